from __future__ import annotations

import pytest

from services.crm_writer.rdstation.errors import (
    RdStationForbidden,
    RdStationNotFound,
    RdStationRateLimited,
    RdStationRejected,
    RdStationUnauthorized,
    RdStationUnavailable,
    describe_error_body,
    error_for_status,
    rejected_fields,
)

JSON = "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": "Permission denied."}', "Permission denied."),
        (
            b'{"errors": "Could not find a custom field that matches"}',
            "Could not find a custom field that matches",
        ),
        (
            b'{"errors": {"error_type": "RESOURCE_NOT_FOUND", "error_message": "Lead not found."}}',
            "RESOURCE_NOT_FOUND: Lead not found.",
        ),
        (
            b'{"errors": {"name": [{"error_type": "MUST_BE_STRING",'
            b' "error_message": "Name must be string."}]}}',
            "name: MUST_BE_STRING: Name must be string.",
        ),
        (
            '{"errors": {"subject": ["Assunto está muito curto"]}}'.encode(),
            "subject: Assunto está muito curto",
        ),
        (
            b'{"errors": [{"error_type": "ACCESS_DENIED", "error_MESSAGE": "not allowed"}]}',
            "ACCESS_DENIED: not allowed",
        ),
        (
            b'{"errors": {"error_type": "RATE_LIMIT_EXCEDDED",'
            b' "error_message": "API usage limit exceeded"}}',
            "RATE_LIMIT_EXCEDDED: API usage limit exceeded",
        ),
    ],
)
def test_rd_error_bodies_of_every_shape_become_one_sentence(body: bytes, expected: str) -> None:
    assert describe_error_body(body, JSON) == expected


def test_html_500_is_reduced_to_its_text() -> None:
    body = (
        "<html><body><h1>Erro</h1><p>Problemas técnicos &amp; manutenção</p></body></html>".encode()
    )
    assert describe_error_body(body, "text/html") == "Erro Problemas técnicos & manutenção"


def test_empty_and_huge_bodies() -> None:
    assert describe_error_body(b"", None) == "empty answer"
    assert len(describe_error_body(b"x" * 5000, "text/plain")) == 500


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, RdStationRateLimited, True),
        (401, RdStationUnauthorized, True),
        (403, RdStationForbidden, False),
        (404, RdStationNotFound, False),
        (400, RdStationRejected, False),
        (422, RdStationRejected, False),
        (500, RdStationUnavailable, True),
        (503, RdStationUnavailable, True),
    ],
)
def test_status_maps_to_one_error_kind(status: int, kind: type, retryable: bool) -> None:
    error = error_for_status(status, "msg", "/deals")
    assert type(error) is kind
    assert error.retryable is retryable


def test_error_messages_never_carry_a_token() -> None:
    error = error_for_status(
        500, "failed GET https://crm.rdstation.com/api/v1/deals?token=abc123", "/deals"
    )
    assert "abc123" not in str(error)


def test_a_403_says_which_status_on_which_path_and_names_the_fix() -> None:
    error = error_for_status(403, "forbidden", "/deals")

    assert str(error) == (
        "forbidden (403 on /deals): the RD Station user of RDSTATION_CRM_TOKEN is not allowed to "
        "do this; check the user's permissions and plan in RD Station, then replay"
    )


@pytest.mark.parametrize("status", [400, 422])
def test_a_refusal_keeps_the_fields_rd_named(status: int) -> None:
    # The pipeline tells a contact name RD refused from a vanished deal by these fields.
    fields = rejected_fields('{"errors": {"name": ["Nome já está em uso"]}}'.encode())

    error = error_for_status(status, "Nome em uso", "/contacts", fields=fields)

    assert isinstance(error, RdStationRejected)
    assert error.fields == ("name",)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b'{"errors": {"name": ["Nome j\xc3\xa1 est\xc3\xa1 em uso"]}}', ("name",)),
        (b'{"errors": {"name": ["x"], "emails": ["y"]}}', ("name", "emails")),
        (b'{"errors": {"error_type": "RESOURCE_NOT_FOUND", "error_message": "x"}}', ()),
        (b'{"errors": "Could not find a custom field"}', ()),
        (b"<html>500</html>", ()),
        ('["Nome obrigatório"]'.encode(), ()),
        (b'"Internal error"', ()),
    ],
)
def test_a_validation_answer_names_the_refused_fields(body: bytes, fields: tuple[str, ...]) -> None:
    assert rejected_fields(body) == fields


@pytest.mark.parametrize("status", [429, 401, 404, 422, 503])
def test_every_error_says_which_status_on_which_path(status: int) -> None:
    assert str(error_for_status(status, "msg", "/deals/d-1")) == f"msg ({status} on /deals/d-1)"


def test_an_error_without_both_status_and_path_is_just_its_message() -> None:
    assert str(RdStationUnavailable("timed out", path="/deals")) == "timed out"
    assert str(RdStationUnavailable("bad gateway", status=502)) == "bad gateway"


def test_a_rate_limit_keeps_how_long_rd_asked_to_wait() -> None:
    error = error_for_status(429, "slow down", "/deals", retry_after=12.0)

    assert isinstance(error, RdStationRateLimited)
    assert error.retry_after == 12.0


@pytest.mark.parametrize("status", [408, 425])
def test_request_timeout_and_too_early_are_worth_retrying(status: int) -> None:
    assert type(error_for_status(status, "msg", "/deals")) is RdStationUnavailable


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # RD answers JSON under other content types, and text without any
        ('{"error": "Token inválido"}'.encode(), None, "Token inválido"),
        (b'{"error": "Token invalido"}', "text/html", "Token invalido"),
        (b"Service Unavailable", None, "Service Unavailable"),
        # a JSON string is JSON when RD says so
        (b'"Internal error"', JSON, "Internal error"),
        (b'{"message": "Internal server error"}', JSON, "Internal server error"),
        (
            '["Nome obrigatório", "E-mail inválido"]'.encode(),
            JSON,
            "Nome obrigatório; E-mail inválido",
        ),
        (
            b'{"errors": {"name": ["curto"], "email": ["errado"]}}',
            JSON,
            "name: curto; email: errado",
        ),
        (b'{"errors": {"error_message": "Lead not found."}}', JSON, "Lead not found."),
        (b'{"errors": []}', JSON, "error"),
        (b'{"errors": {}}', JSON, "error"),
        (b'{"errors": 42}', JSON, "42"),
        (b"<html><body> <p> </p></body></html>", "text/html", "empty answer"),
        (b"Erro \xff interno", "text/plain", "Erro \ufffd interno"),
    ],
)
def test_odd_rd_answers_still_become_one_sentence(
    body: bytes, content_type: str | None, expected: str
) -> None:
    assert describe_error_body(body, content_type) == expected


def test_an_answer_of_exactly_the_limit_is_kept_whole() -> None:
    assert describe_error_body(b"x" * 500, "text/plain") == "x" * 500
    assert describe_error_body(b"x" * 501, "text/plain") == "x" * 499 + "…"
