"""Fault switches, flipped in-process: what a client sees when RD misbehaves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from sandbox.rdstation import SandboxServer
from tests.sandbox.caller import RdCaller, create_deal


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_technical_problems_come_as_html(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(1, 500)
    answer = await api.get("/deals")
    assert answer.status == 500
    assert answer.content_type == "text/html"
    assert "Problemas técnicos" in answer.text


async def test_gateway_failures_come_as_html(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(1, 502)
    sandbox.faults.fail_next(1, 503)
    first, second = await api.get("/deals"), await api.get("/deals")
    assert (first.status, second.status) == (502, 503)
    assert first.content_type == second.content_type == "text/html"


async def test_fail_next_fails_exactly_n_requests(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(2, 503)
    statuses = [(await api.get("/users")).status for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_fail_next_can_target_a_method_and_path(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    sandbox.faults.fail_next(1, 502, method="POST", path_prefix="/deals")
    assert (await api.get("/deals")).status == 200
    assert (await api.post("/contacts", {"contact": {"name": "Maria"}})).status == 200
    assert (await api.post("/deals", {"deal": {"name": "Contrato"}})).status == 502
    assert (await api.post("/deals", {"deal": {"name": "Contrato"}})).status == 200


async def test_injected_429_has_rds_body(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(1, 429, retry_after_seconds=7)
    answer = await api.get("/deals")
    assert answer.status == 429
    assert answer.json["errors"]["error_type"] == "RATE_LIMIT_EXCEDDED"
    assert answer.headers["Retry-After"] == "7"


async def test_a_failed_request_changes_nothing(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.fail_next(1, 500, path_prefix="/api/v1/deals")
    assert (await api.post("/deals", {"deal": {"name": "Contrato"}})).status == 500
    assert sandbox.state.deals == []


async def test_completing_failure_makes_the_change_behind_the_error(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    sandbox.faults.fail_next(1, 500, method="POST", completes=True)
    answer = await api.post("/deals", {"deal": {"name": "Contrato"}})
    assert answer.status == 500
    assert [deal.name for deal in sandbox.state.deals] == ["Contrato"]


async def test_latency_delays_every_api_call(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.set_latency(120)
    started = time.monotonic()
    answer = await api.get("/token/check")
    assert answer.status == 200
    assert time.monotonic() - started >= 0.12
    sandbox.faults.set_latency(0)
    started = time.monotonic()
    await api.get("/token/check")
    assert time.monotonic() - started < 0.12


async def test_hang_outlasts_the_client_timeout(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.hang_next(1, seconds=30, method="POST")
    with pytest.raises(TimeoutError):
        await api.call("POST", "/deals", {"deal": {"name": "Contrato"}}, timeout=0.2)
    sandbox.faults.release_hangs()
    await wait_until(lambda: sandbox.requests.records[-1].status == 504)
    assert sandbox.state.deals == []


async def test_hang_that_completes_creates_the_deal_the_client_gave_up_on(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    sandbox.faults.hang_next(1, seconds=30, method="POST", completes=True)
    request = asyncio.create_task(api.post("/deals", {"deal": {"name": "Contrato"}}))
    # RD has committed the deal while the client is still waiting for the answer.
    await wait_until(lambda: sandbox.state.deals != [])
    assert not request.done()
    sandbox.faults.release_hangs()
    answer = await request
    assert answer.status == 200
    assert [deal.name for deal in sandbox.state.deals] == ["Contrato"]


async def test_stopping_the_server_releases_hanging_requests(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    sandbox.faults.hang_next(1, seconds=30)
    hanging = asyncio.create_task(api.get("/users"))
    await wait_until(lambda: sandbox.requests.records != [])
    started = time.monotonic()
    await sandbox.stop()
    assert time.monotonic() - started < 1.0
    assert (await hanging).status == 504


async def test_hang_without_completion_ends_in_a_gateway_timeout(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    sandbox.faults.hang_next(1, seconds=0.01)
    answer = await api.get("/deals")
    assert answer.status == 504
    assert answer.content_type == "text/html"


async def test_deal_rejection_lasts_until_cleared(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.faults.reject_deal_creation("Limite de negociações atingido", field="deal")
    for _ in range(2):
        answer = await api.post("/deals", {"deal": {"name": "Contrato"}})
        assert answer.status == 422
        assert answer.json == {"errors": {"deal": ["Limite de negociações atingido"]}}
    sandbox.faults.clear_deal_rejection()
    assert (await api.post("/deals", {"deal": {"name": "Contrato"}})).status == 200


async def test_reset_brings_back_a_fresh_sandbox(api: RdCaller, sandbox: SandboxServer) -> None:
    ids_before = sandbox.state.ids
    await create_deal(api)
    sandbox.faults.fail_next(3, 500)
    sandbox.faults.set_latency(50)
    sandbox.reset()
    assert sandbox.state.deals == []
    assert sandbox.requests.records == []
    assert sandbox.faults.snapshot() == {"latency_ms": 0, "fail_next": [], "deal_rejection": None}
    assert sandbox.state.ids == ids_before
    assert (await api.get("/deals")).status == 200
