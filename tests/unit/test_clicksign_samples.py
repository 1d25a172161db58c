"""The sample Clicksign webhooks have Clicksign's shape and are signed the way Clicksign signs."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.clicksign import (
    build_webhook,
    encode,
    make_signers,
    post_webhook,
    signed_request,
)
from shared.events import parse_clicksign_webhook
from shared.signature import verify_clicksign_signature

DOCUMENT_KEYS = {
    "key", "account_key", "path", "filename", "uploaded_at", "updated_at", "finished_at",
    "deadline_at", "status", "auto_close", "locale", "metadata", "sequence_enabled",
    "signable_group", "remind_interval", "block_after_refusal", "downloads", "template",
    "signers", "events", "attachments", "links",
}  # fmt: skip
CLICKSIGN_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
ALL_EVENTS = ["sign", "auto_close", "close", "document_closed", "deadline", "cancel", "refusal",
              "add_signer", "upload"]  # fmt: skip
OCCURRED_AT = "2024-05-02T10:15:30.123-03:00"


def sample(event_name: str, **options: Any) -> dict[str, Any]:
    return build_webhook(event_name, document_key="doc-1", occurred_at=OCCURRED_AT, **options)


@pytest.mark.parametrize("event_name", ALL_EVENTS)
def test_every_event_has_the_documented_envelope(event_name: str) -> None:
    body = sample(event_name)

    assert set(body) == {"event", "document"}
    assert set(body["event"]) == {"name", "data", "occurred_at"}
    assert body["event"]["name"] == event_name
    assert body["event"]["occurred_at"] == OCCURRED_AT
    assert set(body["document"]) == DOCUMENT_KEYS
    assert body["document"]["key"] == "doc-1"


@pytest.mark.parametrize("event_name", ALL_EVENTS)
def test_every_sample_parses_into_an_event(event_name: str) -> None:
    event = parse_clicksign_webhook(encode(sample(event_name)))

    assert event.event_name == event_name
    assert event.document_key == "doc-1"


def test_sign_carries_the_full_signer_object() -> None:
    signer = sample("sign")["event"]["data"]["signer"]

    for name in ("sign_as", "auths", "list_key", "address", "documentation", "phone_number"):
        assert name in signer
    assert signer["sign_as"] == "party"
    assert signer["auths"] == ["email"]
    assert "read_receipts?" in signer


def test_sign_data_has_secret_hmac_null_and_the_account() -> None:
    data = sample("sign", account_key="acc-9")["event"]["data"]

    assert data["secret_hmac"] is None
    assert data["account"]["key"] == "acc-9"


def test_signer_index_picks_who_signed() -> None:
    signers = make_signers(3)

    data = sample("sign", signers=signers, signer_index=2)["event"]["data"]

    assert data["signer"]["key"] == signers[2].key
    assert data["signer"]["email"] == signers[2].email


def test_auto_close_has_null_data() -> None:
    assert sample("auto_close")["event"]["data"] is None


@pytest.mark.parametrize("event_name", ["close", "cancel"])
def test_user_actions_carry_user_and_account(event_name: str) -> None:
    data = sample(event_name)["event"]["data"]

    assert set(data) == {"user", "account"}
    assert set(data["user"]) == {"email", "name"}


def test_document_closed_carries_the_account() -> None:
    assert set(sample("document_closed")["event"]["data"]) == {"account"}


def test_deadline_carries_reached_at() -> None:
    assert CLICKSIGN_TIME.match(sample("deadline")["event"]["data"]["reached_at"])


def test_refusal_carries_signer_and_reasons() -> None:
    data = sample("refusal", signer_index=1)["event"]["data"]

    assert data["signer"]["sign_as"] == ["party"]
    assert data["refusal"]["reasons"]
    assert isinstance(data["refusal"]["comment"], str)


def test_add_signer_lists_the_signers() -> None:
    signers = make_signers(2)

    data = sample("add_signer", signers=signers)["event"]["data"]

    assert [item["key"] for item in data["signers"]] == [signer.key for signer in signers]


@pytest.mark.parametrize(
    ("event_name", "status"),
    [("sign", "running"), ("auto_close", "closed"), ("document_closed", "closed"),
     ("cancel", "canceled"), ("upload", "running")],
)  # fmt: skip
def test_document_status_follows_the_event(event_name: str, status: str) -> None:
    document = sample(event_name)["document"]

    assert document["status"] == status
    assert (document["finished_at"] is not None) == (status == "closed")


def test_status_and_path_can_be_chosen() -> None:
    document = sample("sign", status="closed", path="/Pasta/x.pdf", filename="x.pdf")["document"]

    assert document["status"] == "closed"
    assert document["path"] == "/Pasta/x.pdf"
    assert document["filename"] == "x.pdf"


def test_history_ends_with_this_event_and_lists_earlier_signatures() -> None:
    signers = make_signers(3)

    history = sample("sign", signers=signers, signer_index=2)["document"]["events"]

    names = [item["name"] for item in history]
    assert names == ["upload", "add_signer", "sign", "sign", "sign"]
    signed_keys = [item["data"]["signer"]["key"] for item in history if item["name"] == "sign"]
    assert signed_keys == [signer.key for signer in signers]
    assert all(CLICKSIGN_TIME.match(item["occurred_at"]) for item in history)


def test_document_closed_history_follows_auto_close() -> None:
    names = [item["name"] for item in sample("document_closed")["document"]["events"]]

    assert names[-2:] == ["auto_close", "document_closed"]


def test_timestamps_have_clicksign_form() -> None:
    document = build_webhook("sign")["document"]

    for name in ("uploaded_at", "updated_at", "deadline_at"):
        assert CLICKSIGN_TIME.match(document[name]), name


def test_same_inputs_give_the_same_body() -> None:
    assert sample("sign") == sample("sign")


def test_a_fresh_document_key_when_none_is_given() -> None:
    assert build_webhook("sign")["document"]["key"] != build_webhook("sign")["document"]["key"]


def test_make_signers_are_distinct_and_brazilian() -> None:
    signers = make_signers(12)

    assert len({signer.key for signer in signers}) == 12
    assert len({signer.email for signer in signers}) == 12
    assert any(not signer.name.isascii() for signer in signers)
    assert all(signer.email.isascii() for signer in signers)
    for signer in signers:
        assert signer.documentation is not None
        assert re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", signer.documentation)
        assert cpf_is_valid(signer.documentation)


def test_encode_is_compact_utf8_without_ascii_escapes() -> None:
    body = {"name": "Conceição", "nested": {"a": [1, 2]}}

    assert encode(body) == '{"name":"Conceição","nested":{"a":[1,2]}}'.encode()


def test_signed_request_headers_verify_against_the_secret() -> None:
    payload = encode(sample("sign"))

    headers = signed_request(payload, "whsec-123")

    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["Event"] == "sign"
    verify_clicksign_signature(payload, headers["Content-Hmac"], ["whsec-123"])


def test_signed_request_event_header_can_be_forced() -> None:
    headers = signed_request(encode(sample("add_signer")), "s", event_name="upload")

    assert headers["Event"] == "upload"


async def test_post_webhook_sends_the_signed_bytes_and_returns_the_json_answer() -> None:
    seen: dict[str, Any] = {}

    async def receive(request: web.Request) -> web.Response:
        seen["body"] = await request.read()
        seen["headers"] = dict(request.headers)
        return web.json_response({"ok": True}, status=202)

    app = web.Application()
    app.router.add_post("/hook", receive)
    body = sample("sign")
    async with TestServer(app) as server:
        status, answer = await post_webhook(
            str(server.make_url("/hook")), body, "hook-secret", request_id="req-7"
        )

    assert (status, answer) == (202, {"ok": True})
    assert orjson.loads(seen["body"]) == body
    assert seen["headers"]["X-Request-ID"] == "req-7"
    verify_clicksign_signature(seen["body"], seen["headers"]["Content-Hmac"], ["hook-secret"])


def cpf_is_valid(cpf: str) -> bool:
    digits = [int(char) for char in cpf if char.isdigit()]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits[:length], range(length + 1, 1, -1), strict=True))
        if digits[length] != total * 10 % 11 % 10:
            return False
    return True
