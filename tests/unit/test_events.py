"""Parsing webhooks into `SignedDocumentEvent`: strict on what matters, lenient elsewhere."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from sandbox.clicksign import build_webhook, encode, make_signers
from shared.events import (
    SCHEMA_VERSION,
    InvalidClicksignPayload,
    SignedDocumentEvent,
    nesting_depth,
    parse_clicksign_webhook,
    parse_timestamp,
    read_clicksign_webhook,
)

DOCUMENT_KEY = "db4a2cf7-0a48-481f-b669-54f2a2260ac2"
ACCOUNT_KEY = "f9d9b699-fa73-4949-b8c5-c45df202744b"
OCCURRED_AT = "2023-03-28T11:53:40.123-03:00"
EVENT_NAMES = [
    "sign",
    "auto_close",
    "close",
    "document_closed",
    "deadline",
    "cancel",
    "refusal",
    "add_signer",
    "upload",
]


def webhook(event_name: str, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "document_key": DOCUMENT_KEY,
        "occurred_at": OCCURRED_AT,
        "account_key": ACCOUNT_KEY,
        "signers": make_signers(3),
    }
    options.update(overrides)
    return build_webhook(event_name, **options)


def parse(body: dict[str, Any] | bytes, **kwargs: Any) -> SignedDocumentEvent:
    return parse_clicksign_webhook(body if isinstance(body, bytes) else encode(body), **kwargs)


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_every_documented_event_parses(event_name: str) -> None:
    event = parse(webhook(event_name))

    assert event.event_name == event_name
    assert event.document_key == DOCUMENT_KEY
    assert event.occurred_at == OCCURRED_AT
    assert event.account_key == ACCOUNT_KEY
    assert event.document.filename == "Contrato de Prestação de Serviços.pdf"
    assert [signer.name for signer in event.signers] == [s.name for s in make_signers(3)]
    assert event.schema_version == SCHEMA_VERSION


def test_sign_carries_the_signer_who_signed() -> None:
    second = make_signers(3)[1]

    event = parse(webhook("sign", signer_index=1))

    assert event.signer is not None
    assert event.signer.key == second.key
    assert event.signer.name == second.name
    assert event.signer.email == second.email
    assert event.signer.documentation == second.documentation
    assert event.signer.phone_number == second.phone_number
    assert event.signer.sign_as == ["party"]
    assert event.signer.list_key


def test_auto_close_with_null_data_has_no_signer_and_keeps_the_document_account() -> None:
    body = webhook("auto_close")
    assert body["event"]["data"] is None

    event = parse(body)

    assert event.signer is None
    assert event.account_key == ACCOUNT_KEY
    assert event.is_finalisation


def test_close_takes_the_account_from_event_data() -> None:
    body = webhook("close")
    body["event"]["data"]["account"]["key"] = "another-account"

    assert parse(body).account_key == "another-account"


def test_document_closed_is_a_finalisation_with_closed_status() -> None:
    event = parse(webhook("document_closed"))

    assert event.is_finalisation
    assert event.document.status == "closed"
    assert event.document.finished_at is not None


def test_deadline_and_cancel_are_not_finalisations() -> None:
    assert not parse(webhook("deadline")).is_finalisation
    assert parse(webhook("cancel")).document.status == "canceled"


def test_refusal_accepts_sign_as_as_a_list() -> None:
    body = webhook("refusal", signer_index=2)
    assert isinstance(body["event"]["data"]["signer"]["sign_as"], list)

    event = parse(body)

    assert event.signer is not None
    assert event.signer.sign_as == ["party"]
    assert event.signer.key == make_signers(3)[2].key


def test_sign_as_as_a_string_becomes_a_one_item_list() -> None:
    body = webhook("sign")
    body["event"]["data"]["signer"]["sign_as"] = "contractor"

    event = parse(body)

    assert event.signer is not None
    assert event.signer.sign_as == ["contractor"]


def test_accents_survive_parsing() -> None:
    body = webhook("sign", filename="Termo de Adesão — João & Cia.pdf")
    body["document"]["metadata"] = {"cliente": "Conceição Ltda."}

    event = parse(body)

    assert event.document.filename == "Termo de Adesão — João & Cia.pdf"
    assert event.signer is not None
    assert event.signer.name == "João Pedro Araújo"
    assert event.document.metadata == {"cliente": "Conceição Ltda."}


def test_unknown_fields_are_ignored_but_kept_in_raw() -> None:
    body = webhook("sign")
    body["document"]["envelope_flavour"] = {"nested": [1, 2, 3]}
    body["event"]["data"]["signer"]["federal_data_validation"] = {"status": "ok"}
    body["brand_new_top_level"] = True

    event = parse(body)

    assert event.raw["brand_new_top_level"] is True
    assert event.raw["document"]["envelope_flavour"] == {"nested": [1, 2, 3]}


def test_signers_at_top_level_are_read_when_document_has_none() -> None:
    body = webhook("sign")
    body["signers"] = body["document"].pop("signers")
    body["events"] = body["document"].pop("events")

    event = parse(body)

    assert [signer.key for signer in event.signers] == [s.key for s in make_signers(3)]


def test_missing_occurred_at_is_accepted() -> None:
    body = webhook("document_closed")
    del body["event"]["occurred_at"]

    event = parse(body)

    assert event.occurred_at is None
    assert event.event_id


def test_nullable_document_fields_may_be_null() -> None:
    body = webhook("sign")
    for name in ("filename", "path", "finished_at", "deadline_at", "metadata", "account_key"):
        body["document"][name] = None

    event = parse(body)

    assert event.document.filename is None
    assert event.document.metadata == {}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda body: body["document"].pop("key"), "document.key"),
        (lambda body: body["document"].__setitem__("key", "  "), "document.key"),
        (lambda body: body.pop("document"), "document"),
        (lambda body: body.pop("event"), "event"),
        (lambda body: body["event"].pop("name"), "event.name"),
    ],
)
def test_missing_essentials_are_rejected_with_a_reason(mutate: Any, reason: str) -> None:
    body = webhook("sign")
    mutate(body)

    with pytest.raises(InvalidClicksignPayload, match=reason.replace(".", r"\.")):
        parse(body)


@pytest.mark.parametrize("body", [b"[]", b'"sign"', b"42", b"null"])
def test_a_non_object_body_is_rejected(body: bytes) -> None:
    with pytest.raises(InvalidClicksignPayload, match="not a JSON object"):
        parse(body)


@pytest.mark.parametrize("body", [b"", b"{", b"event=sign", '{"a": "\xff"}'.encode("latin-1")])
def test_a_body_that_is_not_json_is_rejected(body: bytes) -> None:
    with pytest.raises(InvalidClicksignPayload, match="not valid JSON"):
        parse(body)


def test_event_id_is_the_same_for_every_redelivery() -> None:
    body = webhook("sign")

    first = parse(body, correlation_id="one", received_at=datetime(2024, 1, 1, tzinfo=UTC))
    again = parse(copy.deepcopy(body), correlation_id="two")

    assert first.event_id == again.event_id
    assert first.correlation_id != again.correlation_id


def test_event_id_differs_by_signer() -> None:
    assert (
        parse(webhook("sign", signer_index=0)).event_id
        != parse(webhook("sign", signer_index=1)).event_id
    )


def test_event_id_differs_by_occurred_at() -> None:
    later = "2023-03-28T11:53:41.123-03:00"

    assert parse(webhook("sign")).event_id != parse(webhook("sign", occurred_at=later)).event_id


def test_event_id_differs_by_event_name_and_document() -> None:
    ids = {
        parse(webhook("auto_close")).event_id,
        parse(webhook("document_closed")).event_id,
        parse(webhook("auto_close", document_key="another-document")).event_id,
    }
    assert len(ids) == 3


def test_event_id_ignores_surrounding_whitespace_in_the_event_name() -> None:
    body = webhook("sign")
    padded = copy.deepcopy(body)
    padded["event"]["name"] = " sign "

    event = parse(padded)

    assert event.event_name == "sign"
    assert event.event_id == parse(body).event_id


def test_signers_without_keys_still_get_distinct_event_ids() -> None:
    bodies = [webhook("sign", signer_index=index) for index in (0, 1)]
    for body in bodies:
        del body["event"]["data"]["signer"]["key"]
        del body["event"]["occurred_at"]

    first, second = (parse(body) for body in bodies)

    assert first.event_id != second.event_id


def test_correlation_id_is_generated_when_not_given() -> None:
    event = parse(webhook("sign"))

    assert len(event.correlation_id) == 32


def test_log_context_names_the_event() -> None:
    event = parse(webhook("sign"), correlation_id="req-1")

    assert event.log_context() == {
        "event_id": event.event_id,
        "correlation_id": "req-1",
        "document_key": DOCUMENT_KEY,
    }


def test_round_trip_through_json() -> None:
    event = parse(webhook("sign", signer_index=1), correlation_id="req-42")

    decoded = SignedDocumentEvent.from_json(event.to_json())

    assert decoded == event
    assert decoded.received_at == event.received_at


def test_wire_json_is_utf8_with_accents_unescaped() -> None:
    event = parse(webhook("sign"))

    wire = event.to_json()

    assert "João Pedro Araújo".encode() in wire
    assert orjson.loads(wire)["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"event_id": 1}'])
def test_from_json_rejects_what_is_not_an_event(body: bytes) -> None:
    with pytest.raises(InvalidClicksignPayload):
        SignedDocumentEvent.from_json(body)


def test_timestamps_keep_their_offset_and_a_missing_one_is_utc() -> None:
    brasilia = parse_timestamp(OCCURRED_AT)
    assert brasilia == datetime(
        2023, 3, 28, 11, 53, 40, 123000, tzinfo=timezone(timedelta(hours=-3))
    )
    assert parse_timestamp("2023-03-28T14:53:40Z") == datetime(2023, 3, 28, 14, 53, 40, tzinfo=UTC)
    assert parse_timestamp("2023-03-28T14:53:40") == datetime(2023, 3, 28, 14, 53, 40, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "yesterday", 1680015220, b"2023-03-28"])
def test_what_is_not_an_iso_timestamp_is_none(value: object) -> None:
    assert parse_timestamp(value) is None


def test_template_variables_come_from_the_documents_template_data() -> None:
    body = build_webhook("auto_close", document_key="doc-t")
    body["document"]["template"] = {"key": "tpl-1", "data": {"empresa": "ACME Ltda", "valor": 10}}

    event = parse_clicksign_webhook(encode(body))

    assert event.document.template == {"empresa": "ACME Ltda", "valor": 10}


def test_a_document_without_template_has_no_template_variables() -> None:
    event = parse_clicksign_webhook(encode(build_webhook("auto_close", document_key="doc-n")))

    assert event.document.template == {}


def test_an_ignored_webhook_and_its_parsed_event_share_one_event_id() -> None:
    body = encode(build_webhook("sign", document_key="doc-same"))

    assert read_clicksign_webhook(body).event_id == parse_clicksign_webhook(body).event_id


def test_the_event_header_names_an_event_only_when_the_body_does_not() -> None:
    named = read_clicksign_webhook(encode(build_webhook("sign")), "upload")
    unnamed = read_clicksign_webhook(b'{"acceptance": {"key": "a-1"}}', "acceptance_term_sent")

    assert (named.event_name, named.header_mismatch) == ("sign", "upload")
    assert (unnamed.event_name, unnamed.header_mismatch) == ("acceptance_term_sent", None)


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ({}, 1), ({"a": [1, {"b": []}]}, 4), ([[[[]]]], 4), ({"a": {}, "b": [[]]}, 3)],
)
def test_nesting_depth_counts_containers(value: object, depth: int) -> None:
    assert nesting_depth(value) == depth


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "body is not valid JSON"),
        (b"[]", "body is not a JSON object"),
        (b'{"document": {"key": "d-1"}}', "missing 'event' object and no Event header"),
        (
            b'{"event": {"name": " "}, "document": {"key": "d-1"}}',
            "missing 'event.name' and no Event header",
        ),
        (b'{"event": {"name": "sign"}, "document": "d-1"}', "'document' is not an object"),
        (b'{"event": {"name": "sign"}}', "missing 'document' object"),
        (
            b'{"event": {"name": "sign"}, "document": {"key": " "}}',
            "document.key: Value error, document.key is empty",
        ),
    ],
)
def test_the_400_answer_gives_the_reason_exactly(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidClicksignPayload) as caught:
        parse(body)

    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event_id": 1}', "event_id: Input should be a valid string"),
        (b"[1]", "Input should be an object"),
    ],
)
def test_a_message_that_is_not_an_event_says_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidClicksignPayload) as caught:
        SignedDocumentEvent.from_json(body)

    assert str(caught.value) == reason


def test_a_message_whose_document_has_no_key_names_the_nested_field() -> None:
    wire = orjson.loads(parse(webhook("sign")).to_json())
    del wire["document"]["key"]

    with pytest.raises(InvalidClicksignPayload) as caught:
        SignedDocumentEvent.from_json(orjson.dumps(wire))

    assert str(caught.value) == "document.key: Field required"


def test_an_occurred_at_that_is_not_text_is_left_out() -> None:
    body = webhook("sign")
    body["event"]["occurred_at"] = 1680015220

    assert parse(body).occurred_at is None


def test_received_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)

    received_at = parse(webhook("sign")).received_at

    assert received_at.utcoffset() == timedelta(0)
    assert received_at >= before


@pytest.mark.parametrize(
    ("event_name", "occurred_at", "signer", "event_id"),
    [
        (
            "sign",
            "2026-03-28T11:00:00-03:00",
            {"key": "signer-1", "list_key": "list-1", "email": "a@example.com"},
            "344dd47dea1b6065cb6740670503d3c1",
        ),
        (
            "sign",
            "2026-03-28T11:00:00-03:00",
            {"list_key": "signer-1", "email": "a@example.com"},
            "344dd47dea1b6065cb6740670503d3c1",
        ),
        (
            "sign",
            "2026-03-28T11:00:00-03:00",
            {"email": "signer-1"},
            "344dd47dea1b6065cb6740670503d3c1",
        ),
        ("auto_close", None, None, "08ac863e635e64a3917465f49f9c377a"),
    ],
)
def test_event_ids_stay_the_same_from_one_release_to_the_next(
    event_name: str, occurred_at: str | None, signer: dict[str, str] | None, event_id: str
) -> None:
    # Ids in the history must still match a redelivery after an upgrade: these are frozen.
    happened = {"occurred_at": occurred_at} if occurred_at else {}
    body = {
        "event": {"name": event_name, "data": {"signer": signer}, **happened},
        "document": {"key": "doc-1"},
    }

    assert parse(orjson.dumps(body)).event_id == event_id


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_body_nesting_deeper_than_the_limit_is_refused_and_one_at_the_limit_is_read() -> None:
    # The object itself is the first level: 31 more are the limit of 32.
    at_the_limit = {"event": {"name": "sign"}, "document": {"key": "d-1"}, "x": nested_lists(31)}
    too_deep = {**at_the_limit, "x": nested_lists(32)}

    assert read_clicksign_webhook(orjson.dumps(at_the_limit)).event_name == "sign"
    with pytest.raises(InvalidClicksignPayload) as caught:
        read_clicksign_webhook(orjson.dumps(too_deep))
    assert str(caught.value) == "body nests deeper than 32 levels"


def test_a_document_event_named_only_by_the_event_header_is_parsed_under_that_name() -> None:
    body = b'{"event": {"data": null}, "document": {"key": "d-1", "filename": "c.pdf"}}'

    event = parse_clicksign_webhook(read_clicksign_webhook(body, "auto_close"))

    assert (event.event_name, event.document_key, event.document.filename) == (
        "auto_close",
        "d-1",
        "c.pdf",
    )


@pytest.mark.parametrize("header", ["sign", " sign ", None])
def test_an_event_header_that_agrees_with_the_body_or_is_absent_is_no_mismatch(
    header: str | None,
) -> None:
    webhook = read_clicksign_webhook(encode(build_webhook("sign")), header)

    assert (webhook.event_name, webhook.header_mismatch) == ("sign", None)


def test_a_document_key_sent_as_a_number_is_the_same_document_as_its_text() -> None:
    as_number = {"event": {"name": "upload"}, "document": {"key": 42}}
    as_text = {"event": {"name": "upload"}, "document": {"key": "42"}}

    by_number = read_clicksign_webhook(orjson.dumps(as_number))
    by_text = read_clicksign_webhook(orjson.dumps(as_text))

    assert by_number.document_key == "42"
    assert by_number.event_id == by_text.event_id


@pytest.mark.parametrize("key", ["missing", None, "", "  ", True, {"id": 1}])
def test_an_ignored_webhook_without_a_usable_document_key_names_no_document(key: object) -> None:
    # ingest logs an ignored event's document_key: null, never "None", "True" or blanks.
    document = {} if key == "missing" else {"key": key}
    body = orjson.dumps({"event": {"name": "upload"}, "document": document})

    assert read_clicksign_webhook(body).document_key is None


def test_a_text_field_of_another_type_keeps_the_event_a_number_as_text_anything_else_empty() -> (
    None
):
    body = webhook("sign")
    body["event"]["data"]["signer"]["name"] = ["Ana", "Souza"]
    body["event"]["data"]["signer"]["phone_number"] = 5511999990000
    body["document"].update(filename=20240502, status={"name": "running"})

    event = parse(body)

    assert event.signer is not None
    assert (event.signer.name, event.signer.phone_number) == (None, "5511999990000")
    assert (event.document.filename, event.document.status) == ("20240502", None)


@pytest.mark.parametrize("email", [{"address": "ana@example.com"}, ["ana@example.com"]])
def test_an_email_that_is_not_text_is_no_email(email: object) -> None:
    # Read as text it would be "{'address': …}" or "['…']": a contact RD would refuse or, worse,
    # one nobody can find again.
    body = webhook("sign")
    body["event"]["data"]["signer"]["email"] = email

    event = parse(body)

    assert event.signer is not None
    assert event.signer.email is None


def test_an_email_is_trimmed_and_a_blank_one_is_no_email() -> None:
    body = webhook("sign")
    body["event"]["data"]["signer"]["email"] = "  ana@example.com "
    body["document"]["signers"][0]["email"] = "   "

    event = parse(body)

    assert event.signer is not None
    assert event.signer.email == "ana@example.com"
    assert event.signers[0].email is None


def test_an_event_built_with_what_orjson_cannot_write_still_travels() -> None:
    # Only code can build one (orjson reads a number past 64 bits as a float); pydantic writes it.
    event = parse(webhook("sign")).model_copy(update={"raw": {"big": 2**70, "nested": {1: "x"}}})

    decoded = SignedDocumentEvent.from_json(event.to_json())

    assert decoded.raw == {"big": 2**70, "nested": {"1": "x"}}
    assert decoded.model_dump(exclude={"raw"}) == event.model_dump(exclude={"raw"})


def test_the_wire_json_says_what_pydantics_own_json_says() -> None:
    # orjson writes the message body (speed); readers in any language see the same JSON as
    # pydantic's, e.g. received_at as "2024-05-02T13:15:30Z", not Python's "+00:00" form.
    event = parse(webhook("sign"), received_at=datetime(2024, 5, 2, 13, 15, 30, 120000, tzinfo=UTC))

    wire = orjson.loads(event.to_json())

    assert wire == orjson.loads(event.model_dump_json())
    assert wire["received_at"] == "2024-05-02T13:15:30.120000Z"
