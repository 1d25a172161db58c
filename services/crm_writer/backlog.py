"""What waits: queue depths read from the broker and the oldest unprocessed event in the store.

A background task measures every few seconds and reports to the observer (the Prometheus one
turns the figures into gauges). Depths come from passive queue declarations on a channel of the
consumer's connection: the broker answers with the queue's ready messages (deliveries in hand are
not counted). The declarations are made with ``robust=False`` because a robust channel keeps the
first `Queue` object it declared under a name and hands it back on every later passive declaration,
with the ``message_count`` of that first answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from services.crm_writer.observer import CrmWriterObserver, QueueRole
from services.crm_writer.store import Store
from shared.logging import get_logger
from shared.topology import Topology

log = get_logger()

# An attempt lasts at most the document lock's wait (120 s) plus its RD calls, each paced and
# waiting up to a minute for RD's rate window: one still 'processing' after this was abandoned
# (a process killed mid-event, a history write that failed) and a person should look.
STUCK_AFTER_SECONDS = 15 * 60


def stuck_since(now: datetime) -> datetime:
    """Attempts that began before this moment and are still 'processing' are stuck."""
    return now - timedelta(seconds=STUCK_AFTER_SECONDS)


def queue_roles(topology: Topology) -> dict[str, QueueRole]:
    """Every queue crm_writer owns and what it is for."""
    return {
        topology.work_queue: QueueRole.WORK,
        **{name: QueueRole.RETRY for name in topology.retry_queues},
        topology.dead_queue: QueueRole.PARKING_LOT,
    }


@dataclass
class BacklogProbe:
    """Measures the backlog; ``connection`` says which broker connection to use, if any yet."""

    topology: Topology
    store: Store
    observer: CrmWriterObserver
    connection: Callable[[], AbstractRobustConnection | None]
    _channel: AbstractRobustChannel | None = field(default=None, init=False)
    _failing: set[str] = field(default_factory=set, init=False)

    async def run(self, interval_seconds: float) -> None:
        """Measure every ``interval_seconds`` until cancelled."""
        while True:
            await self.measure()
            await asyncio.sleep(interval_seconds)

    async def measure(self) -> None:
        await self._measure_queues()
        await self._measure_oldest_event()
        await self._measure_stuck_events()

    async def _measure_queues(self) -> None:
        connection = self.connection()
        if connection is None or not connection.connected.is_set():
            self.observer.queue_depths_unknown()
            return
        try:
            if self._channel is None or self._channel.is_closed:
                self._channel = await connection.channel()
            depths = {}
            for name, role in queue_roles(self.topology).items():
                queue = await self._channel.declare_queue(name, passive=True, robust=False)
                depths[name] = (role, int(queue.declaration_result.message_count or 0))
        except Exception as exc:
            # A missing queue closes the channel (404): start again on a fresh one next time.
            await self.close()
            self.observer.queue_depths_unknown()
            self._failed("broker", exc)
            return
        self.observer.queue_depths(depths)
        self._recovered("broker")

    async def _measure_oldest_event(self) -> None:
        try:
            oldest = await self.store.oldest_unprocessed_received_at()
        except Exception as exc:
            self.observer.oldest_unprocessed_age(None)
            self._failed("store", exc)
            return
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        self.observer.oldest_unprocessed_age(max(age, 0.0))
        self._recovered("store")

    async def _measure_stuck_events(self) -> None:
        try:
            count, _ = await self.store.stuck_processing(stuck_since(datetime.now(UTC)))
        except Exception as exc:
            self.observer.stuck_processing(None)
            self._failed("store", exc)
            return
        self.observer.stuck_processing(count)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()

    def _failed(self, source: str, error: Exception) -> None:
        # Once per failure streak: the broker or the store being down is logged elsewhere too.
        if source not in self._failing:
            self._failing.add(source)
            reason = str(error) or type(error).__name__
            log.warning("backlog.unmeasured", source=source, error=reason)

    def _recovered(self, source: str) -> None:
        self._failing.discard(source)
