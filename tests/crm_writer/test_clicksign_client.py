"""The Clicksign API client against the sandbox's Clicksign API: both API versions, which one is
asked first, every failure as its own error, the rate limit, the token kept out of everything."""

from __future__ import annotations

import io
import uuid
from typing import Any

import aiohttp
import pytest

from sandbox.clicksign import build_webhook, make_signers
from sandbox.clicksign_api import API_1, API_3, ClicksignApiConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.api_call import ApiCall
from services.crm_writer.clicksign import (
    ClicksignClient,
    ClicksignNotFound,
    ClicksignRateLimited,
    ClicksignUnauthorized,
    ClicksignUnavailable,
)
from services.crm_writer.pacing import RequestPacer
from shared.logging import configure_logging

OCCURRED_AT = "2024-05-02T10:15:30.123-03:00"


def registered(
    rd: SandboxServer, *, apis: tuple[str, ...] = (API_1,), signers: int = 2, **options: Any
) -> dict[str, Any]:
    """A closed document the sandbox's Clicksign API knows; its full ``document`` object."""
    body = build_webhook(
        "auto_close",
        document_key=str(uuid.uuid4()),
        signers=make_signers(signers),
        occurred_at=OCCURRED_AT,
        **options,
    )
    rd.clicksign.state.register(body["document"], apis=apis)
    document: dict[str, Any] = body["document"]
    return document


def wrong_token_client(rd: SandboxServer, session: aiohttp.ClientSession) -> ClicksignClient:
    return ClicksignClient(session, rd.clicksign_url, "not-the-token", RequestPacer(60_000, 10.0))


async def test_api_1_document_is_read_by_its_key_with_signers_and_file(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    document = registered(rd, filename="Contrato Alfa.pdf", metadata={"proposta": "123"})

    found = await clicksign_client.fetch_document(document["key"])

    assert found.api == API_1
    assert (found.filename, found.path, found.status) == (
        "Contrato Alfa.pdf",
        "/Contratos/Contrato Alfa.pdf",
        "closed",
    )
    assert found.metadata == {"proposta": "123"}
    assert [s.email for s in found.signers] == [s["email"] for s in document["signers"]]
    assert [s.list_key for s in found.signers] == [s["list_key"] for s in document["signers"]]


async def test_api_3_document_is_found_through_the_envelope_its_path_names(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    document = registered(rd, apis=(API_3,), path="/Proposta 42/contrato.docx")
    calls: list[ApiCall] = []

    found = await clicksign_client.recording(calls).fetch_document(
        document["key"], path="/Proposta 42/contrato.docx"
    )

    assert found.api == API_3
    assert found.filename == document["filename"]
    assert found.envelope_id is not None
    assert {s.email for s in found.signers} == {s["email"] for s in document["signers"]}
    assert [call.path for call in calls] == [
        f"/api/v1/documents/{document['key']}",
        "/api/v3/envelopes",
        f"/api/v3/envelopes/{found.envelope_id}/documents/{document['key']}",
        f"/api/v3/envelopes/{found.envelope_id}/signers",
    ]
    assert calls[1].query == {"filter[name]": "Proposta 42"}


async def test_api_3_document_without_path_is_found_among_envelopes_changed_around_the_event(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    document = registered(rd, apis=(API_3,))
    event_time = rd.clicksign.state.documents[-1].modified.isoformat()

    found = await clicksign_client.fetch_document(document["key"], occurred_at=event_time)

    assert found.api == API_3
    assert found.key == document["key"]


async def test_the_api_that_answered_is_asked_first_next_time(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    first, second = (registered(rd, apis=(API_3,), path=f"/Env {n}/c.pdf") for n in (1, 2))
    await clicksign_client.fetch_document(first["key"], path="/Env 1/c.pdf")
    calls: list[ApiCall] = []

    await clicksign_client.recording(calls).fetch_document(second["key"], path="/Env 2/c.pdf")

    assert calls[0].path == "/api/v3/envelopes"
    assert len(calls) == 3


async def test_a_document_no_api_knows_is_not_found_after_asking_both(
    clicksign_client: ClicksignClient,
) -> None:
    calls: list[ApiCall] = []

    with pytest.raises(ClicksignNotFound) as raised:
        await clicksign_client.recording(calls).fetch_document(
            "unknown-key", path="/Envelope/x.pdf"
        )

    assert not raised.value.retryable
    assert "API 1.0" in raised.value.message and "API 3.0" in raised.value.message
    assert [call.path for call in calls] == ["/api/v1/documents/unknown-key", "/api/v3/envelopes"]


async def test_api_3_unavailable_to_the_account_after_api_1_missed_is_not_found(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    # Clicksign answers 503 "Serviço indisponível" where the account has no envelopes.
    rd.clicksign.faults.fail_next(1, 503, path_prefix="/api/v3")

    with pytest.raises(ClicksignNotFound, match="not available to this account"):
        await clicksign_client.fetch_document("unknown-key", path="/Envelope/x.pdf")


async def test_a_token_api_1_refuses_on_an_account_without_envelopes_is_refused(
    clicksign_client: ClicksignClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neither API took the token: going on would write the deal without the signers the
    # document holds. (The sandbox checks tokens before its faults, so both answers are set
    # here.)
    async def refused(*_: Any, **__: Any) -> Any:
        raise ClicksignUnauthorized(
            "403 on /api/v1/documents/k: Access Token inválido", status=403, path="/api/v1/x"
        )

    async def no_envelopes(*_: Any, **__: Any) -> Any:
        raise ClicksignUnavailable("503 Serviço indisponível", status=503, path="/api/v3/x")

    monkeypatch.setattr(ClicksignClient, "read_document_v1", refused)
    monkeypatch.setattr(ClicksignClient, "find_document_v3", no_envelopes)

    with pytest.raises(ClicksignUnauthorized) as raised:
        await clicksign_client.fetch_document("k", path="/Envelope/x.pdf")

    assert str(raised.value).startswith("Clicksign token refused")


async def test_a_refused_token_is_unauthorized_not_retryable_and_says_so(
    rd: SandboxServer, http_session: aiohttp.ClientSession
) -> None:
    document = registered(rd)

    with pytest.raises(ClicksignUnauthorized) as raised:
        await wrong_token_client(rd, http_session).fetch_document(document["key"], path="/E/x")

    assert raised.value.retryable is False
    assert str(raised.value).startswith("Clicksign token refused")
    assert "Access Token inválido" in str(raised.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_unavailable_and_retryable(
    clicksign_client: ClicksignClient, rd: SandboxServer, status: int
) -> None:
    document = registered(rd)
    rd.clicksign.faults.fail_next(1, status, path_prefix="/api/v1/documents")

    with pytest.raises(ClicksignUnavailable) as raised:
        await clicksign_client.fetch_document(document["key"])

    assert raised.value.retryable is True
    assert raised.value.status == status


async def test_an_unreachable_api_is_unavailable(
    rd: SandboxServer, http_session: aiohttp.ClientSession
) -> None:
    client = ClicksignClient(
        http_session, "http://127.0.0.1:9", rd.clicksign_token, RequestPacer(60_000, 10.0), 1.0
    )

    with pytest.raises(ClicksignUnavailable) as raised:
        await client.fetch_document("any")

    assert raised.value.retryable is True


async def test_a_429_is_waited_in_place_and_the_request_sent_again(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    document = registered(rd)
    rd.clicksign.faults.fail_next(1, 429, retry_after_seconds=1)
    calls: list[ApiCall] = []

    found = await clicksign_client.recording(calls).fetch_document(document["key"])

    assert found.key == document["key"]
    assert [call.status for call in calls] == [429, 200]


async def test_a_429_past_the_patience_is_rate_limited_with_clicksigns_reset_time(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    document = registered(rd)
    rd.clicksign.faults.fail_next(1, 429, retry_after_seconds=120)
    calls: list[ApiCall] = []

    with pytest.raises(ClicksignRateLimited) as raised:
        await clicksign_client.recording(calls).fetch_document(document["key"])

    assert raised.value.retryable is True
    assert raised.value.retry_after is not None and 118 <= raised.value.retry_after <= 120
    assert [call.status for call in calls] == [429]
    assert clicksign_client.limiter._paused_until > 0


async def test_the_sandbox_budget_answers_429_past_its_limit(
    rd: SandboxServer, clicksign_client: ClicksignClient
) -> None:
    rd.clicksign.limiter.configure(2, 100.0)

    await clicksign_client.check_token()  # two requests: the whole budget
    with pytest.raises(ClicksignRateLimited):
        await clicksign_client.fetch_document("any")


async def test_calls_are_recorded_as_clicksign_without_the_token(
    clicksign_client: ClicksignClient, rd: SandboxServer
) -> None:
    document = registered(rd)
    calls: list[ApiCall] = []

    await clicksign_client.recording(calls).fetch_document(document["key"])

    [entry] = [call.as_history() for call in calls]
    assert entry["api"] == "clicksign"
    assert entry["status"] == 200
    assert entry["query"] == {}
    assert entry["response"]["document"]["key"] == document["key"]
    assert rd.clicksign_token not in str(entry)


async def test_the_token_never_reaches_logs_errors_or_the_history(
    rd: SandboxServer, http_session: aiohttp.ClientSession
) -> None:
    secret = "s3cr3t-clicksign-token-value"
    rd.clicksign.config = ClicksignApiConfig(tokens=(secret,), rate_limit=None)
    output = io.StringIO()
    configure_logging("crm_writer", "DEBUG", stream=output)
    client = ClicksignClient(http_session, rd.clicksign_url, secret, RequestPacer(60_000, 10.0))
    document = registered(rd)
    calls: list[ApiCall] = []

    await client.recording(calls).fetch_document(document["key"])
    rd.clicksign.faults.fail_next(1, 503)
    with pytest.raises(ClicksignUnavailable) as raised:
        await client.recording(calls).fetch_document(document["key"])

    assert "clicksign.call" in output.getvalue()
    assert secret not in output.getvalue()
    assert secret not in str(raised.value)
    assert secret not in str([call.as_history() for call in calls])
    assert [record.query for record in rd.clicksign.requests.records] == [{}, {}]


async def test_check_token_names_the_account_and_both_apis(
    clicksign_client: ClicksignClient,
) -> None:
    result = await clicksign_client.check_token()

    assert result.accepted_by == [API_1, API_3]
    assert result.account == "Conta sandbox signdeal"


async def test_check_token_with_a_wrong_token_says_each_api_refused_it(
    rd: SandboxServer, http_session: aiohttp.ClientSession
) -> None:
    result = await wrong_token_client(rd, http_session).check_token()

    assert result.accepted_by == []
    assert isinstance(result.api_1, ClicksignUnauthorized)
    assert result.api_1.status == 403
    assert isinstance(result.api_3, ClicksignUnauthorized)
    assert result.api_3.status == 401
