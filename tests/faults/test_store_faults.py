"""The history store failing at the worst moment: RD has done the work and the outcome is being
written. A delivery is acked only once its outcome is in the store, so when that write fails or
never ends the broker hands the event out again, and it still ends done, once.

(Issue 18: acking before the outcome was written survived every test but a SIGKILL that landed in
the few milliseconds between the two, one run in seven.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.store import EventStatus, Store, StoreUnavailable
from shared.topology import Topology
from tests.clicksign_events import sign_events
from tests.consumer_harness import WAIT_SECONDS, ConsumerFactory, all_reach, publish_event
from tests.faults.conftest import Figures
from tests.faults.effects import tally_effects


@dataclass
class FirstOutcomeFault:
    """The store's first ``finish_event`` that records an event as done runs ``fault`` first
    (which raises, or never returns); every later call is the store's own."""

    fault: Callable[[], Awaitable[None]]
    tripped: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        real = store.finish_event

        async def finish_event(event_id: str, **fields: Any) -> None:
            if fields.get("status") is EventStatus.DONE and not self.tripped.is_set():
                self.tripped.set()
                await self.fault()
            await real(event_id, **fields)

        monkeypatch.setattr(store, "finish_event", finish_event)


async def never_returns() -> None:
    await asyncio.get_running_loop().create_future()


def raises(error: Exception) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        raise error

    return fault


async def test_a_consumer_stopped_while_writing_an_outcome_leaves_the_event_to_the_next_one(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The write of the outcome hangs (a stuck database); the consumer is stopped and its drain
    runs out. The delivery was never acked, so the next consumer gets it and finishes it."""
    fault = FirstOutcomeFault(never_returns)
    fault.install(sqlite_store, monkeypatch)
    [event] = sign_events(1, "outcomehang")
    first = await consumers.start(amqp_connection, sqlite_store)
    await publish_event(channel, topology, event)
    await asyncio.wait_for(fault.tripped.wait(), WAIT_SECONDS)
    assert len(rd.state.deals) == 1  # RD has done the work; the store does not know yet

    await first.stop(drain_seconds=0.1)
    await consumers.start(amqp_connection, sqlite_store)
    [record] = await all_reach(sqlite_store, [event.event_id])

    tally = await tally_effects(sqlite_store, rd.state, [event])
    figures.record(faults_injected=1, events_sent=1, tally=tally)
    assert tally.clean, tally.problems
    assert record.attempts == 2
    assert record.deal_id == rd.state.deals[0].id


@pytest.mark.parametrize(
    "error",
    [
        # not understood: the delivery goes back to the broker as it is
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        # retryable: a copy goes to a retry tier
        StoreUnavailable("database is locked"),
    ],
    ids=["connection-closed", "database-locked"],
)
async def test_an_outcome_the_store_fails_to_write_once_is_done_once_on_redelivery(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    FirstOutcomeFault(raises(error)).install(sqlite_store, monkeypatch)
    [event] = sign_events(1, "outcomefails")
    await consumers.start(amqp_connection, sqlite_store)

    await publish_event(channel, topology, event)
    [record] = await all_reach(sqlite_store, [event.event_id])

    tally = await tally_effects(sqlite_store, rd.state, [event])
    figures.record(faults_injected=1, events_sent=1, tally=tally)
    assert tally.clean, tally.problems
    assert record.attempts == 2
    assert record.deal_id == rd.state.deals[0].id
