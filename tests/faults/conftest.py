"""Fixtures of the fault suite: the RD sandbox, a store, in-process consumers, service processes,
and the ledger of figures written at the end of the session."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractRobustConnection

from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient
from services.crm_writer.store import Store, open_store
from shared.topology import Topology
from tests.consumer_harness import ConsumerFactory
from tests.e2e.processes import ProcessGroup
from tests.faults.effects import Tally
from tests.faults.figures import FaultLedger, FaultRun

RD_TIMEOUT_SECONDS = 1.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: the fault suite (tests/faults)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_ledger() -> Iterator[FaultLedger]:
    ledger = FaultLedger()
    yield ledger
    ledger.write()


@dataclass
class Figures:
    """Records one test's figures in the session ledger."""

    ledger: FaultLedger
    test: str
    started: float = field(default_factory=time.monotonic)

    def record(
        self, *, faults_injected: int, events_sent: int, tally: Tally, **details: Any
    ) -> None:
        self.ledger.record(
            FaultRun(
                test=self.test,
                faults_injected=faults_injected,
                events_sent=events_sent,
                events_accepted=tally.events,
                exactly_once=tally.exactly_once,
                lost=tally.lost,
                duplicated=tally.duplicated,
                seconds=round(time.monotonic() - self.started, 1),
                details={**tally.figures(), **details, "problems": tally.problems[:10]},
            )
        )


@pytest.fixture
def figures(fault_ledger: FaultLedger, request: pytest.FixtureRequest) -> Figures:
    return Figures(fault_ledger, request.node.nodeid)


@pytest_asyncio.fixture
async def rd() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(SandboxConfig(rate_limit=None, access_log=False)) as server:
        yield server


@pytest.fixture
def rd_client(rd: SandboxServer, http_session: aiohttp.ClientSession) -> RdStationClient:
    return RdStationClient(
        http_session, rd.url, rd.token, RdRateLimiter(60_000), timeout_seconds=RD_TIMEOUT_SECONDS
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "faults.db"


@pytest_asyncio.fixture
async def store(store_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{store_path}")
    await opened.open()
    yield opened
    await opened.close()


@pytest_asyncio.fixture
async def consumers(
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    rd_client: RdStationClient,
    deal_settings: DealSettings,
) -> AsyncIterator[ConsumerFactory]:
    """In-process consumers with tiers of 1, 2 and 4 s and room for ten attempts; stopped
    before the test's connections close."""
    factory = ConsumerFactory(topology, rd_client, deal_settings, max_attempts=10)
    yield factory
    await factory.stop_all()


@pytest_asyncio.fixture
async def processes(service_topology: Topology) -> AsyncIterator[ProcessGroup]:
    """Service processes a test starts; whatever still runs at the end is stopped."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        await group.close()
