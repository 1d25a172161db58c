"""Completing a thin webhook: when Clicksign's API is needed, and how its answer is merged."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs

from sandbox.clicksign import build_webhook, make_signers, thin, without_signer_email
from services.crm_writer.clicksign import ClicksignClient, ClicksignDocument, ClicksignNotFound
from services.crm_writer.enrichment import complete_event, completion_needed, merge_document
from shared.events import Document, SignedDocumentEvent, Signer
from tests.clicksign_events import event_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "clicksign"
KEY = "0b8d4e1a-6f3c-4d2e-9a7b-5c1e2f3a4b5c"


def fixture_event(name: str) -> SignedDocumentEvent:
    return event_of((FIXTURES / name).read_bytes())


def built(event_name: str, *, signers: int = 2, shape: str = "full") -> SignedDocumentEvent:
    body = build_webhook(event_name, document_key=KEY, signers=make_signers(signers))
    if shape == "thin":
        body = thin(body)
    if shape == "no_email":
        body = without_signer_email(body)
    return event_of(body)


def api_document(**changes: object) -> ClicksignDocument:
    full = built("auto_close")
    fields: dict[str, object] = {
        "key": KEY,
        "api": "1.0",
        "filename": full.document.filename,
        "path": full.document.path,
        "status": "closed",
        "finished_at": "2024-05-02T13:15:30.123Z",
        "metadata": {"proposta": "7"},
        "template": {"razao_social": "ACME"},
        "signers": tuple(full.signers),
    }
    fields.update(changes)
    return ClicksignDocument(**fields)  # type: ignore[arg-type]


# -- does the event need the API? ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("auto_close_production_signers_empty.json", "a finalisation without signers"),
        ("auto_close_securities_docs_no_filename.json", "a finalisation without signers"),
        (
            "auto_close_ms_docsigner_no_filename_no_path.json",
            "a finalisation without signers; no file name",
        ),
        ("add_signer_v3_sandbox.json", None),
    ],
)
def test_real_thin_webhooks_need_the_api(fixture: str, reason: str | None) -> None:
    assert completion_needed(fixture_event(fixture)) == reason


@pytest.mark.parametrize("event_name", ["auto_close", "close", "document_closed", "deadline"])
def test_a_finalisation_without_signers_needs_the_api(event_name: str) -> None:
    assert completion_needed(built(event_name, shape="thin")) == (
        "a finalisation without signers; no file name"
    )


@pytest.mark.parametrize("event_name", ["sign", "auto_close", "document_closed", "cancel"])
def test_a_full_webhook_needs_nothing(event_name: str) -> None:
    assert completion_needed(built(event_name)) is None


def test_a_sign_whose_signer_has_no_email_needs_the_api() -> None:
    assert completion_needed(built("sign", shape="no_email")) == "a signer without e-mail"


def test_a_sign_without_document_signers_is_not_thin_for_that() -> None:
    # A `sign` links only its signer: the document's other signers are not needed.
    event = built("sign")
    assert completion_needed(event.model_copy(update={"signers": []})) is None


# -- merging the API's document ------------------------------------------------------------------


def test_the_document_fills_what_the_webhook_lacked() -> None:
    event = built("auto_close", shape="thin")
    document = api_document()

    merged = merge_document(event, document)

    assert merged.document.filename == document.filename
    assert merged.document.path == document.path
    assert [s.email for s in merged.signers] == [s.email for s in document.signers]
    assert merged.document.finished_at == event.document.finished_at


def test_what_the_webhook_carried_is_never_replaced() -> None:
    event = built("auto_close")
    document = api_document(
        filename="other.pdf",
        path="/Elsewhere/other.pdf",
        status="running",
        signers=(Signer(key="x", email="someone@example.com", name="Someone"),),
    )

    merged = merge_document(event, document)

    assert merged.document.filename == event.document.filename
    assert merged.document.path == event.document.path
    assert merged.document.status == "closed"
    assert merged.signers == event.signers


def test_raw_and_event_id_stay_what_left_clicksign() -> None:
    event = built("auto_close", shape="thin")

    merged = merge_document(event, api_document())

    assert merged.raw == event.raw
    assert merged.raw["document"]["signers"] == []
    assert merged.event_id == event.event_id


def test_empty_metadata_is_filled_and_present_metadata_kept() -> None:
    event = built("auto_close", shape="thin")
    with_metadata = event.model_copy(
        update={"document": event.document.model_copy(update={"metadata": {"mine": "1"}})}
    )

    assert merge_document(event, api_document()).document.metadata == {"proposta": "7"}
    assert merge_document(with_metadata, api_document()).document.metadata == {"mine": "1"}


def test_template_variables_are_filled_once_the_schema_has_them() -> None:
    if "template" not in Document.model_fields:
        pytest.skip("shared.events.Document.template arrives with issue 12's ingest part (lead)")
    merged = merge_document(built("auto_close", shape="thin"), api_document())

    assert merged.document.template == {"razao_social": "ACME"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("match_on", ["key", "list_key"])
def test_a_signs_signer_without_email_is_completed_from_the_document(match_on: str) -> None:
    event = built("sign", shape="no_email")
    signer = event.signer
    assert signer is not None
    if match_on == "list_key":
        event = event.model_copy(update={"signer": signer.model_copy(update={"key": None})})
    full = built("sign").signer
    assert full is not None

    merged = merge_document(event, api_document())

    assert merged.signer is not None
    assert merged.signer.email == full.email
    assert merged.signer.name == signer.name
    assert merged.signer.list_key == signer.list_key


def test_a_signs_signer_nobody_matches_stays_as_it_came() -> None:
    event = built("sign", shape="no_email")
    stranger = Signer(key="someone-else", email="x@example.com")

    merged = merge_document(event, api_document(signers=(stranger,)))

    assert merged.signer == event.signer
    assert merged.signer is not None and merged.signer.email is None


def test_a_signs_signer_with_email_is_left_alone() -> None:
    event = built("sign")
    other = Signer(key=event.signer.key if event.signer else None, email="changed@example.com")

    merged = merge_document(event, api_document(signers=(other,)))

    assert merged.signer == event.signer


def test_a_signs_signer_with_email_is_not_completed_even_when_the_document_knows_more() -> None:
    event = built("sign")
    assert event.signer is not None
    without_phone = event.signer.model_copy(update={"phone_number": None})
    event = event.model_copy(update={"signer": without_phone})
    known = Signer(key=without_phone.key, email=without_phone.email, phone_number="+5511999990000")

    merged = merge_document(event, api_document(signers=(known,)))

    assert merged.signer is not None and merged.signer.phone_number is None


def test_a_sign_without_a_signer_is_merged_without_one() -> None:
    event = built("sign").model_copy(update={"signer": None})

    assert merge_document(event, api_document()).signer is None


def test_an_empty_value_the_api_holds_fills_nothing() -> None:
    event = built("sign", shape="no_email")
    assert event.signer is not None
    nameless = event.signer.model_copy(update={"name": None})
    event = event.model_copy(update={"signer": nameless})
    known = Signer(key=nameless.key, email="ana@example.com", name="")

    merged = merge_document(event, api_document(signers=(known,)))

    assert merged.signer is not None
    assert (merged.signer.email, merged.signer.name) == ("ana@example.com", None)


# -- the one API call around them ----------------------------------------------------------------


class FakeClicksign:
    """Answers `fetch_document` with one document, or raises; remembers what it was asked."""

    def __init__(self, answer: ClicksignDocument | Exception) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str | None, str | None]] = []

    async def fetch_document(
        self, key: str, *, path: str | None = None, occurred_at: str | None = None
    ) -> ClicksignDocument:
        self.asked.append((key, path, occurred_at))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def as_client(fake: FakeClicksign) -> ClicksignClient:
    return cast(ClicksignClient, fake)


async def test_a_full_webhook_is_not_completed_and_the_api_is_not_asked() -> None:
    event = built("auto_close")
    clicksign = FakeClicksign(api_document())

    assert await complete_event(event, as_client(clicksign)) == (event, None)
    assert clicksign.asked == []


async def test_a_thin_webhook_without_a_clicksign_token_goes_on_and_the_history_says_why() -> None:
    event = built("auto_close", shape="thin")

    assert await complete_event(event, None) == (
        event,
        "not completed from Clicksign (a finalisation without signers; no file name): "
        "CLICKSIGN_ACCESS_TOKEN is not set",
    )


async def test_a_thin_webhook_is_completed_from_the_document_clicksign_returns() -> None:
    event = built("auto_close", shape="thin")
    clicksign = FakeClicksign(api_document())

    with capture_logs() as logs:
        completed, note = await complete_event(event, as_client(clicksign))

    assert clicksign.asked == [(KEY, None, event.occurred_at)]
    assert completed == merge_document(event, api_document())
    assert (
        note == "completed from Clicksign's API 1.0 (a finalisation without signers; no file name)"
    )
    assert logs == [
        {
            "event": "clicksign.event_completed",
            "log_level": "info",
            "reason": "a finalisation without signers; no file name",
            "api": "1.0",
            "signers": 2,
        }
    ]


async def test_the_api_is_asked_by_the_webhooks_key_path_and_time() -> None:
    event = built("sign", shape="no_email")
    clicksign = FakeClicksign(api_document())

    await complete_event(event, as_client(clicksign))

    assert clicksign.asked == [(KEY, event.document.path, event.occurred_at)]


async def test_a_document_clicksign_does_not_know_goes_on_with_what_the_webhook_carried() -> None:
    event = built("auto_close", shape="thin")
    clicksign = FakeClicksign(ClicksignNotFound("Documento não encontrado", status=404, path="/x"))

    with capture_logs() as logs:
        completed, note = await complete_event(event, as_client(clicksign))

    assert completed == event
    assert note == (
        "Clicksign's API does not know this document (Documento não encontrado); "
        "went on with what the webhook carried"
    )
    assert logs == [
        {
            "event": "clicksign.document_not_found",
            "log_level": "warning",
            "reason": "a finalisation without signers; no file name",
            "error": "Documento não encontrado",
        }
    ]
