"""Fixtures for end-to-end tests: the services' AMQP names, their processes, a running ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.crm_writer.settings import SANDBOX_TOKEN
from shared.topology import Topology
from tests.e2e.processes import (
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
async def ingest(
    processes: ProcessGroup, amqp_url: str, service_topology: Topology
) -> ServiceProcess:
    """``python -m services.ingest``, ready (its broker connection is up)."""
    service = await start_ingest(processes, amqp_url, service_topology)
    await service.wait_until_ready()
    return service
