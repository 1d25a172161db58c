"""Fixtures only the fault suite uses: in-process consumers, a channel to publish to service
processes, and the ledger of figures written at the end of the session. The sandbox, the SQLite
store the processes share and the processes come from ``tests/plugins``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.rdstation import RdStationClient
from shared.topology import Topology
from tests.consumer_harness import ConsumerFactory
from tests.faults.effects import Tally
from tests.faults.figures import FaultLedger, FaultRun


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
async def consumers(
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    impatient_rd_client: RdStationClient,
    deal_settings: DealSettings,
) -> AsyncIterator[ConsumerFactory]:
    """In-process consumers with tiers of 1, 2 and 4 s and room for ten attempts; stopped
    before the test's connections close."""
    factory = ConsumerFactory(topology, impatient_rd_client, deal_settings, max_attempts=10)
    yield factory
    await factory.stop_all()


@pytest_asyncio.fixture
async def publisher(
    amqp_connection: AbstractRobustConnection, service_topology: Topology
) -> AbstractChannel:
    """A confirming channel for publishing to the service processes' topology (deleted by
    ``service_topology`` after this channel's connection closes)."""
    return await amqp_connection.channel(publisher_confirms=True)
