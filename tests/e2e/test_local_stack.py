"""``make run`` stopped with Ctrl-C: every child gone within a bound, each service saying
``service.stopped``, even with crm_writer in the middle of an event."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from sandbox.clicksign import build_webhook, make_signers, post_webhook
from sandbox.process_env import free_port
from shared.topology import Topology
from tests.e2e.local_stack import LocalStack, is_alive, start_local_stack
from tests.e2e.processes import WEBHOOK_SECRET, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the children"),
]

# ingest's and crm_writer's shutdown timeouts under make run are 3 s, the sandbox's 2 s: what
# stops in order finishes well inside this. The old stack took 25 s and more (crm_writer's own
# drain timeout, after a crash on two signals).
STOP_BOUND_SECONDS = 15.0


@pytest_asyncio.fixture
async def stack(
    tmp_path: Path, amqp_url: str, service_topology: Topology
) -> AsyncIterator[LocalStack]:
    started = await start_local_stack(tmp_path, amqp_url, service_topology)
    try:
        yield started
    finally:
        await started.close()


async def test_ctrl_c_stops_every_child_with_crm_writer_mid_event(
    stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    await stack.wait_until_running()
    assert len(stack.children) == 3, stack.output()
    # crm_writer's RD call hangs: the event stays in hand until shutdown cancels it.
    hang = {"method": "POST", "path_prefix": "/deals", "hang_seconds": 120}
    async with http.post(f"{stack.sandbox_url}/__sandbox/faults/fail_next", json=hang) as answer:
        assert answer.status == 200
    body = build_webhook("sign", signers=make_signers(1))
    url = f"{stack.ingest_url}/webhooks/clicksign"
    status, _ = await post_webhook(url, body, WEBHOOK_SECRET, http)
    assert status == 202
    await wait_until(lambda: stack.said("crm_writer", "event.consumed"), "the event in hand")

    stack.interrupt()

    await wait_until(
        lambda: stack.process.returncode is not None and not any(map(is_alive, stack.children)),
        "make run and every child to be gone",
        STOP_BOUND_SECONDS,
    )
    assert await stack.wait_for_exit() == 0
    for service in ("ingest", "crm_writer"):
        assert stack.said(service, "service.stopped"), f"{service}:\n{stack.output()}"
    assert "did not stop within" not in stack.output()


async def test_without_rabbitmq_it_says_so_in_one_line_and_starts_nothing(
    tmp_path: Path, amqp_url: str, service_topology: Topology
) -> None:
    port = free_port()
    closed = f"amqp://guest:guest@127.0.0.1:{port}/"
    stack = await start_local_stack(tmp_path, closed, service_topology)
    try:
        async with asyncio.timeout(STOP_BOUND_SECONDS):
            code = await stack.wait_for_exit()
    finally:
        await stack.close()

    assert code == 1
    assert stack.lines == [
        f"make run: AMQP_URL: nothing listens on 127.0.0.1:{port}: is RabbitMQ running? "
        "`rabbitmq-server -detached` (or `docker compose up -d rabbitmq`)"
    ]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
