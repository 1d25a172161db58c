"""The payload the history stores: what the details view shows, without what nothing reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sandbox.clicksign import build_webhook, make_signers
from services.crm_writer.store.stored_payload import (
    DROPPED_KEYS,
    REMOVED_KEY,
    names_signer,
    stored_calls,
    stored_payload,
)
from shared.events import SignedDocumentEvent
from tests.clicksign_events import event_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "clicksign" / "api"


def webhook_event(event_name: str) -> SignedDocumentEvent:
    body = build_webhook(event_name, signers=make_signers(3))
    # A photo-checked signer, as Clicksign's own example has one.
    if event_name == "sign":
        body["event"]["data"]["signer"] |= {
            "selfie_name": "selfie.png",
            "official_front_name": "official_document_front_28 mar 2023.png",
            "federal_data_validation": {"name": "Ana", "birthday": "1980-01-01"},
        }
    return event_of(body)


def keys_with_values(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
            yield from keys_with_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from keys_with_values(item, f"{path}[]")


@pytest.mark.parametrize("event_name", ["sign", "add_signer", "auto_close", "document_closed"])
def test_links_location_ip_photos_and_birthdays_are_not_stored(event_name: str) -> None:
    event = webhook_event(event_name)

    payload = stored_payload(event)

    left = [
        path
        for path, value in keys_with_values(payload)
        if path.rsplit(".", 1)[-1] in DROPPED_KEYS and value not in (None, "", [], {})
    ]
    assert left == []
    assert "https://" not in str(payload)


def test_what_was_dropped_is_listed_in_the_body() -> None:
    payload = stored_payload(webhook_event("sign"))

    removed = payload["raw"][REMOVED_KEY]
    assert {
        "event.data.signer.url",
        "event.data.signer.address",
        "event.data.signer.latitude",
        "event.data.signer.longitude",
        "event.data.signer.selfie_name",
        "event.data.signer.official_front_name",
        "event.data.signer.federal_data_validation",
        "event.data.signer.birthday",
        "document.downloads",
        "document.signers[].url",
        "document.signers[].request_signature_key",
    } <= set(removed)
    assert removed == sorted(removed)


def test_what_the_details_view_shows_is_kept() -> None:
    event = webhook_event("sign")
    signer = event.signer
    assert signer is not None

    payload = stored_payload(event)

    kept = payload["signer"]
    assert kept["name"] == signer.name
    assert kept["email"] == signer.email
    assert kept["documentation"] == signer.documentation
    assert kept["phone_number"] == signer.phone_number
    assert "birthday" not in kept
    assert len(payload["signers"]) == 3
    assert payload["document"]["filename"] == event.document.filename
    assert payload["raw"]["event"]["data"]["signer"]["email"] == signer.email
    assert SignedDocumentEvent.model_validate(payload).event_id == event.event_id


def test_the_event_itself_is_not_changed() -> None:
    event = webhook_event("sign")
    before = event.model_dump(mode="json")

    stored_payload(event)

    assert event.model_dump(mode="json") == before
    assert "url" in event.raw["event"]["data"]["signer"]


def test_a_body_with_nothing_to_drop_gets_no_mark() -> None:
    event = webhook_event("sign")
    bare = event.model_copy(update={"raw": {"event": {"name": "sign"}, "document": {"key": "k"}}})

    assert REMOVED_KEY not in stored_payload(bare)["raw"]


def test_a_signer_is_found_by_e_mail_whatever_its_case() -> None:
    payload = stored_payload(webhook_event("auto_close"))
    second = payload["signers"][1]["email"]

    assert names_signer(payload, f"  {second.upper()} ")
    assert not names_signer(payload, "someone.else@example.com")


def dropped_values_in(value: Any) -> list[str]:
    """The `DROPPED_KEYS` in ``value`` that still hold something."""
    if isinstance(value, dict):
        found = [key for key, item in value.items() if key in DROPPED_KEYS and item]
        return found + [key for item in value.values() for key in dropped_values_in(item)]
    if isinstance(value, list):
        return [key for item in value for key in dropped_values_in(item)]
    return []


def recorded_call(api: str | None, response: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"method": "GET", "path": "/x", "status": 200, "response": response}
    if api is not None:
        call["api"] = api
    return call


@pytest.mark.parametrize("answer", ["v1_document.json", "v3_documents.json"])
def test_clicksigns_answers_in_the_history_lose_what_the_webhook_loses(answer: str) -> None:
    # Real answers recorded by others (tests/fixtures/clicksign/README.md).
    response = orjson.loads((FIXTURES / answer).read_bytes())

    [stored] = stored_calls([recorded_call("clicksign", response)])

    assert not dropped_values_in(stored["response"])
    assert stored["response"][REMOVED_KEY]
    assert stored["response"].keys() == response.keys() | {REMOVED_KEY}  # the rest stays


def test_rds_answers_in_the_history_are_kept_as_they_came() -> None:
    answer = {"contacts": [{"name": "Ana", "birthday": {"day": 1}, "emails": [{"email": "a@b"}]}]}

    assert stored_calls([recorded_call(None, answer)])[0]["response"] == answer
