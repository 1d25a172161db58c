"""signdeal's services as real processes (`tests.service_processes`), stopped after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from services.crm_writer.settings import SANDBOX_TOKEN
from shared.topology import Topology
from tests.service_processes import (
    WEBHOOK_SECRET,
    ProcessGroup,
    ServiceProcess,
    log_problems,
    start_ingest,
)


@pytest_asyncio.fixture
async def processes(service_topology: Topology) -> AsyncIterator[ProcessGroup]:
    """Service processes started by the test: stopped at the end (before ``service_topology``
    deletes their queues), and every line they printed checked against the logging contract
    (JSON, base fields, event fields, no secrets)."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        await group.close()
    problems = [
        problem
        for service in group.started
        for problem in log_problems(service, secrets=[WEBHOOK_SECRET, SANDBOX_TOKEN])
    ]
    if problems:
        pytest.fail("log contract broken:\n" + "\n".join(problems[:20]), pytrace=False)


@pytest_asyncio.fixture
async def unchecked_processes(service_topology: Topology) -> AsyncIterator[ProcessGroup]:
    """Service processes the test starts and breaks (killed, cut off): whatever still runs at
    the end is stopped; their output is not checked against the logging contract."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        await group.close()


@pytest_asyncio.fixture
async def ingest(
    processes: ProcessGroup, amqp_url: str, service_topology: Topology
) -> ServiceProcess:
    """``python -m services.ingest``, ready (its broker connection is up)."""
    service = await start_ingest(processes, amqp_url, service_topology)
    await service.wait_until_ready()
    return service


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the processes' HTTP sides; a request gives up after 10 s."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
