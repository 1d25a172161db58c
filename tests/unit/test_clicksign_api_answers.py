"""Clicksign's API answers written by others (tests/fixtures/clicksign/api) read through the
client's views and error mapping, and the client-side budget of Clicksign's rate limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.crm_writer.clicksign import (
    API_1,
    API_3,
    ClicksignDocument,
    ClicksignError,
    ClicksignNotFound,
    ClicksignRateLimited,
    ClicksignRateLimiter,
    ClicksignRejected,
    ClicksignUnauthorized,
    ClicksignUnavailable,
)
from services.crm_writer.clicksign.client import endpoint_template, envelope_name, modified_window
from services.crm_writer.clicksign.documents import (
    UnexpectedAnswer,
    account_name,
    document_from_v1,
    document_from_v3,
    resources,
)
from services.crm_writer.clicksign.errors import (
    describe_error_body,
    error_for_status,
    retry_after_seconds,
)

ANSWERS = Path(__file__).parents[1] / "fixtures" / "clicksign" / "api"


def answer(name: str) -> Any:
    return orjson.loads((ANSWERS / name).read_bytes())


def raw(name: str) -> bytes:
    return (ANSWERS / name).read_bytes()


# -- views ---------------------------------------------------------------------------------------


def test_api_1_document_answer_becomes_the_document() -> None:
    document = document_from_v1(answer("v1_document.json"))

    assert document.api == API_1
    assert document.key == "28343efd-dccb-4e7a-9989-49e792b3c266"
    assert (document.filename, document.path, document.status) == (
        "teste.pdf",
        "/teste/teste.pdf",
        "running",
    )
    assert document.finished_at is None
    assert document.signers == ()
    assert document.template == {}


def test_api_1_document_with_signers_and_template_keeps_them() -> None:
    body = answer("v1_document.json")
    body["document"]["signers"] = [
        {
            "key": "s-1",
            "list_key": "l-1",
            "email": " Ana@Example.com ",
            "name": "Ana",
            "sign_as": "party",
        },
        "not a signer",
    ]
    body["document"]["template"] = {"key": "t-1", "data": {"razao_social": "ACME"}}

    document = document_from_v1(body)

    [signer] = document.signers
    assert (signer.key, signer.list_key, signer.email, signer.sign_as) == (
        "s-1",
        "l-1",
        "Ana@Example.com",
        ["party"],
    )
    assert document.template == {"razao_social": "ACME"}


def test_an_answer_without_a_document_is_unexpected() -> None:
    with pytest.raises(UnexpectedAnswer):
        document_from_v1(answer("v1_error_document_not_found.json"))


def test_api_3_document_and_signers_become_the_document() -> None:
    [item] = answer("v3_documents.json")["data"]
    signers = answer("v3_signers.json")

    document = document_from_v3("694ab0e3", {"data": item}, signers)

    assert document.api == API_3
    assert (document.key, document.filename, document.status) == (
        "b0cedde9-0ad7-4417-8d94-300709c00d1b",
        "arquivo.pdf",
        "running",
    )
    assert document.envelope_id == "694ab0e3"
    assert document.path is None
    assert [(s.key, s.email, s.name) for s in document.signers] == [
        ("305b7b99-7669-4b1b-b0a9-7cbf61ffc680", "signer.one@example.com", "Signer One"),
        ("3bf8696f-0e81-421e-a2c1-4e9b0b0941a3", "signer.two@example.com", "Signer Two"),
    ]


def test_api_3_lists_are_json_api_resources() -> None:
    assert resources(answer("v3_envelopes_empty.json")) == []
    assert [r["id"] for r in resources(answer("v3_signers.json"))] == [
        "305b7b99-7669-4b1b-b0a9-7cbf61ffc680",
        "3bf8696f-0e81-421e-a2c1-4e9b0b0941a3",
    ]
    with pytest.raises(UnexpectedAnswer):
        resources(answer("v3_envelope.json"))


def test_api_1_accounts_answer_names_the_account() -> None:
    assert account_name(answer("v1_accounts.json")) == "Nome da sua conta"


def test_api_1_document_keeps_every_moment_its_metadata_and_its_template() -> None:
    body = answer("v1_document.json")
    body["document"].update(
        status="closed",
        finished_at="2019-03-27T15:02:11.000Z",
        metadata={"proposta": "7"},
        template={"key": "t-1", "data": {"razao_social": "ACME"}},
        signers=None,
    )

    assert document_from_v1(body) == ClicksignDocument(
        key="28343efd-dccb-4e7a-9989-49e792b3c266",
        api=API_1,
        filename="teste.pdf",
        path="/teste/teste.pdf",
        status="closed",
        uploaded_at="2019-03-27T14:37:47.551Z",
        updated_at="2019-03-27T14:37:50.277Z",
        finished_at="2019-03-27T15:02:11.000Z",
        deadline_at="2019-03-28T17:30:59.000Z",
        metadata={"proposta": "7"},
        template={"razao_social": "ACME"},
    )


def test_api_3_document_keeps_its_moments_metadata_and_template() -> None:
    [item] = answer("v3_documents.json")["data"]
    item["attributes"].update(
        metadata={"proposta": "7"}, template={"key": "t-1", "data": {"razao_social": "ACME"}}
    )

    document = document_from_v3("694ab0e3", {"data": item}, {"data": []})

    assert (document.uploaded_at, document.updated_at) == (
        "2024-02-29T23:54:19.576-03:00",
        "2024-02-29T23:56:45.462-03:00",
    )
    assert (document.metadata, document.template) == ({"proposta": "7"}, {"razao_social": "ACME"})


def test_what_is_not_a_signer_is_skipped_and_the_signers_after_it_kept() -> None:
    body = answer("v1_document.json")
    body["document"]["signers"] = ["not a signer", 7, {"key": "s-1", "email": "ana@example.com"}]

    assert [signer.key for signer in document_from_v1(body).signers] == ["s-1"]


@pytest.mark.parametrize(
    "body", [[], None, "document", {"document": []}, {"document": {"key": " "}}, {"errors": []}]
)
def test_an_api_1_answer_without_a_document_says_so(body: Any) -> None:
    with pytest.raises(UnexpectedAnswer) as caught:
        document_from_v1(body)

    assert str(caught.value) == "the answer has no document"


@pytest.mark.parametrize(
    "document", [[], None, {"data": []}, {"data": {"type": "documents"}}, {"data": {"id": ""}}]
)
def test_an_api_3_answer_that_is_not_one_resource_says_so(document: Any) -> None:
    with pytest.raises(UnexpectedAnswer) as caught:
        document_from_v3("694ab0e3", document, {"data": []})

    assert str(caught.value) == "the answer is not a JSON:API resource"


@pytest.mark.parametrize("listing", [[], None, {"data": {"id": "e-1"}}, {"errors": []}])
def test_an_api_3_answer_that_is_not_a_list_says_so(listing: Any) -> None:
    with pytest.raises(UnexpectedAnswer) as caught:
        resources(listing)

    assert str(caught.value) == "the answer is not a JSON:API list"


def test_only_resources_with_an_id_are_listed() -> None:
    listing = {"data": [{"id": "e-1"}, "e-2", {"id": ""}, {"type": "envelopes"}, {"id": "e-3"}]}

    assert [item["id"] for item in resources(listing)] == ["e-1", "e-3"]


@pytest.mark.parametrize("body", [[], None, {"account": []}, {"account": {"name": " "}}, {}])
def test_an_accounts_answer_without_a_name_names_no_account(body: Any) -> None:
    assert account_name(body) is None


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("v1_error_invalid_token.json", "Access Token inválido"),
        ("v1_error_document_not_found.json", "Documento não encontrado"),
        ("v3_error_unauthorized.json", "Não autorizado: Access Token inválido"),
        ("v3_error_envelope_unavailable.json", "Verificação: Serviço indisponível"),
    ],
)
def test_error_answers_of_both_apis_become_one_sentence(name: str, sentence: str) -> None:
    assert describe_error_body(raw(name)) == sentence


def test_an_error_answer_that_is_not_json_is_kept_short() -> None:
    assert describe_error_body(b"Too many requests") == "Too many requests"
    assert len(describe_error_body(b"<html>" + b"x" * 5000 + b"</html>")) <= 300


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (401, ClicksignUnauthorized, False),
        (403, ClicksignUnauthorized, False),
        (404, ClicksignNotFound, False),
        (429, ClicksignRateLimited, True),
        (500, ClicksignUnavailable, True),
        (503, ClicksignUnavailable, True),
        (400, ClicksignRejected, False),
        (422, ClicksignRejected, False),
    ],
)
def test_each_status_is_its_own_error_with_the_retry_answer(
    status: int, kind: type[Exception], retryable: bool
) -> None:
    error = error_for_status(status, "message", "/api/v1/documents/k")

    assert type(error) is kind
    assert error.retryable is retryable


def test_a_refused_token_reads_as_the_park_reason() -> None:
    error = error_for_status(403, "Access Token inválido", "/api/v1/documents/k")

    assert (
        str(error) == "Clicksign token refused: Access Token inválido (403 on /api/v1/documents/k)"
    )


def test_the_wait_comes_from_retry_after_or_clicksigns_reset_time() -> None:
    assert retry_after_seconds({"Retry-After": "12"}) == 12
    assert retry_after_seconds({"X-Rate-Limit-Reset": "1000"}, now=993.5) == 6.5
    assert retry_after_seconds({"X-Rate-Limit-Reset": "900"}, now=993.5) == 0
    assert retry_after_seconds({}) is None


def test_a_token_in_an_error_message_is_redacted() -> None:
    error = error_for_status(500, "failed for ?access_token=abc123", "/api/v1/accounts")

    assert "abc123" not in str(error)


@pytest.mark.parametrize(
    ("status", "prefix"),
    [
        (429, "Clicksign API"),
        (401, "Clicksign token refused"),
        (404, "Clicksign API"),
        (408, "Clicksign API"),
        (422, "Clicksign API"),
        (503, "Clicksign API"),
    ],
)
def test_every_error_says_which_status_on_which_path(status: int, prefix: str) -> None:
    error = error_for_status(status, "message", "/api/v1/documents/k")

    assert str(error) == f"{prefix}: message ({status} on /api/v1/documents/k)"


@pytest.mark.parametrize("kind", [ClicksignUnavailable, ClicksignUnauthorized])
def test_an_error_without_both_status_and_path_is_just_its_message(
    kind: type[ClicksignError],
) -> None:
    prefix = "Clicksign token refused" if kind is ClicksignUnauthorized else "Clicksign API"

    assert str(kind("timed out", path="/api/v1/accounts")) == f"{prefix}: timed out"
    assert str(kind("bad gateway", status=502)) == f"{prefix}: bad gateway"


@pytest.mark.parametrize("status", [408, 425])
def test_request_timeout_and_too_early_are_worth_retrying(status: int) -> None:
    assert type(error_for_status(status, "message", "/api/v1/accounts")) is ClicksignUnavailable


def test_a_rate_limit_keeps_how_long_clicksign_asked_to_wait() -> None:
    error = error_for_status(429, "slow down", "/api/v1/documents/k", retry_after=12.0)

    assert isinstance(error, ClicksignRateLimited)
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b"", "empty answer"),
        (b" \n ", "empty answer"),
        (b"Erro \xff interno", "Erro \ufffd interno"),
        (
            b'{"errors": ["Documento cancelado", "Prazo expirado"]}',
            "Documento cancelado; Prazo expirado",
        ),
        (b'{"errors": [{"code": "not_found"}, {"status": "500"}]}', "not_found; error"),
        (b'{"errors": []}', '{"errors": []}'),
        (b'{"errors": {"base": "x"}}', '{"errors": {"base": "x"}}'),
        (b'{"message":  "Too many\n requests"}', '{"message": "Too many requests"}'),
        ('["Documento não encontrado"]'.encode(), '["Documento não encontrado"]'),
    ],
)
def test_odd_clicksign_answers_still_become_one_sentence(body: bytes, sentence: str) -> None:
    assert describe_error_body(body) == sentence


def test_an_answer_of_exactly_the_limit_is_kept_whole() -> None:
    assert describe_error_body(b"x" * 300) == "x" * 300
    assert describe_error_body(b"x" * 301) == "x" * 299 + "…"


def test_a_wait_is_never_negative_and_a_reset_already_past_waits_nothing() -> None:
    assert retry_after_seconds({"Retry-After": "0"}) == 0
    assert retry_after_seconds({"Retry-After": "-5"}) == 0
    assert retry_after_seconds({"X-Rate-Limit-Reset": "0"}) == 0


# -- how the client finds things -----------------------------------------------------------------


def test_the_envelope_name_is_the_folder_of_the_webhooks_path() -> None:
    assert envelope_name("/Contrato — Gestão — ACME/contrato-6.docx") == "Contrato — Gestão — ACME"
    assert envelope_name("/contrato.pdf") is None
    assert envelope_name(None) is None


def test_the_modified_window_surrounds_the_event() -> None:
    window = modified_window("2024-05-02T10:15:30.123-03:00")

    assert window == "2024-05-02T10:05:30.123-03:00,2024-05-02T10:25:30.123-03:00"
    assert modified_window(None) is None


def test_span_names_carry_no_document_key() -> None:
    assert endpoint_template("/api/v3/envelopes/e-1/documents/d-2") == (
        "/api/v3/envelopes/{key}/documents/{key}"
    )


# -- the client-side budget ----------------------------------------------------------------------


def test_the_budget_is_clicksigns_limit_for_the_host() -> None:
    production = ClicksignRateLimiter("https://app.clicksign.com")
    sandbox = ClicksignRateLimiter("https://sandbox.clicksign.com")

    assert production.per_period == pytest.approx(50 * 0.98)
    assert sandbox.per_period == pytest.approx(20 * 0.98)
    assert production.period_seconds == 10.0
