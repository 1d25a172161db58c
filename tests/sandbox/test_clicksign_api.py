"""The sandbox's Clicksign API: registered documents read back by API 1.0 and 3.0 the way
Clicksign answers, tokens checked per API without colliding with RD's, Clicksign's rate-limit
headers, faults and the control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from sandbox.clicksign import build_webhook, make_signers
from sandbox.rdstation import SandboxServer

DOCUMENT_KEY = "5a0f9b2c-1d3e-4f5a-8b6c-7d8e9f0a1b2c"


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


async def get(
    session: aiohttp.ClientSession, url: str, **options: Any
) -> tuple[int, Any, dict[str, str]]:
    async with session.get(url, **options) as answer:
        text = await answer.text()
        body = await answer.json(content_type=None) if text[:1] in "{[" else text
        return answer.status, body, dict(answer.headers)


async def register(
    session: aiohttp.ClientSession, rd: SandboxServer, apis: list[str]
) -> dict[str, Any]:
    body = build_webhook(
        "auto_close",
        document_key=DOCUMENT_KEY,
        signers=make_signers(2),
        path="/Envelope Alfa/contrato.pdf",
        filename="contrato.pdf",
    )
    url = f"{rd.root_url}/__sandbox/clicksign/documents"
    async with session.post(url, json={"document": body["document"], "apis": apis}) as answer:
        assert answer.status == 201
        registered: dict[str, Any] = await answer.json()
    return registered


async def test_api_1_answers_a_registered_document_by_key(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    await register(session, sandbox, ["1.0"])

    status, body, headers = await get(
        session,
        f"{sandbox.clicksign_url}/api/v1/documents/{DOCUMENT_KEY}",
        params={"access_token": sandbox.clicksign_token},
    )

    assert status == 200
    assert body["document"]["filename"] == "contrato.pdf"
    assert len(body["document"]["signers"]) == 2
    assert headers["X-Rate-Limit"] == "20"
    assert int(headers["X-Rate-Limit-Remaining"]) == 19
    assert int(headers["X-Rate-Limit-Reset"]) > 0


async def test_api_1_unknown_document_and_wrong_token_answer_as_recorded(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    url = f"{sandbox.clicksign_url}/api/v1/documents/unknown"

    unknown = await get(session, url, params={"access_token": sandbox.clicksign_token})
    refused = await get(session, url, params={"access_token": "wrong"})

    assert unknown[:2] == (404, {"errors": ["Documento não encontrado"]})
    assert refused[:2] == (403, {"errors": ["Access Token inválido"]})


async def test_api_3_finds_the_envelope_by_name_then_its_document_and_signers(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    registered = await register(session, sandbox, ["3.0"])
    auth = {"Authorization": sandbox.clicksign_token}
    base = f"{sandbox.clicksign_url}/api/v3/envelopes"

    _, listing, _ = await get(session, base, params={"filter[name]": "Envelope Alfa"}, headers=auth)
    [envelope] = listing["data"]
    _, document, _ = await get(
        session, f"{base}/{envelope['id']}/documents/{DOCUMENT_KEY}", headers=auth
    )
    _, signers, _ = await get(session, f"{base}/{envelope['id']}/signers", headers=auth)

    assert envelope["id"] == registered["envelope_id"]
    assert document["data"]["attributes"]["filename"] == "contrato.pdf"
    assert signers["meta"]["record_count"] == 2
    v1 = await get(
        session,
        f"{sandbox.clicksign_url}/api/v1/documents/{DOCUMENT_KEY}",
        params={"access_token": sandbox.clicksign_token},
    )
    assert v1[0] == 404


async def test_api_3_refuses_a_bearer_token_like_clicksign(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    status, body, _ = await get(
        session,
        f"{sandbox.clicksign_url}/api/v3/envelopes",
        headers={"Authorization": f"Bearer {sandbox.clicksign_token}"},
    )

    assert status == 401
    assert body["errors"][0]["detail"] == "Access Token inválido"


async def test_rd_and_clicksign_tokens_do_not_open_each_others_api(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    rd_with_clicksign_token = await get(
        session, f"{sandbox.url}/deal_pipelines", params={"access_token": sandbox.clicksign_token}
    )
    clicksign_with_rd_token = await get(
        session, f"{sandbox.clicksign_url}/api/v1/accounts", params={"token": sandbox.token}
    )
    rd_with_its_token = await get(
        session, f"{sandbox.url}/deal_pipelines", params={"token": sandbox.token}
    )

    assert rd_with_clicksign_token[0] == 401
    assert clicksign_with_rd_token[0] == 403
    assert rd_with_its_token[0] == 200


async def test_past_the_budget_clicksign_answers_429(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    sandbox.clicksign.limiter.configure(1, 10.0)
    params = {"access_token": sandbox.clicksign_token}

    first = await get(session, f"{sandbox.clicksign_url}/api/v1/accounts", params=params)
    second = await get(session, f"{sandbox.clicksign_url}/api/v1/accounts", params=params)

    assert first[0] == 200
    assert second[0] == 429
    assert second[2]["X-Rate-Limit-Remaining"] == "0"
    assert int(second[2]["X-Rate-Limit-Reset"]) > 0


async def test_fail_next_through_the_control_api_then_back_to_normal(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    control = f"{sandbox.root_url}/__sandbox/clicksign/faults/fail_next"
    async with session.post(control, json={"count": 1, "status": 503}) as answer:
        assert answer.status == 200
    params = {"access_token": sandbox.clicksign_token}

    failed = await get(session, f"{sandbox.clicksign_url}/api/v1/accounts", params=params)
    healthy = await get(session, f"{sandbox.clicksign_url}/api/v1/accounts", params=params)

    assert failed[0] == 503
    assert healthy[0] == 200


async def test_the_request_log_never_keeps_the_access_token(
    sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    await get(
        session,
        f"{sandbox.clicksign_url}/api/v1/accounts",
        params={"access_token": sandbox.clicksign_token, "page": "1"},
    )

    [record] = sandbox.clicksign.requests.records
    assert record.query == {"page": "1"}
