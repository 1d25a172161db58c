"""Helpers for tests that run crm_writer's consumer in-process against the real broker.

Waiting, publishing events the way ingest does, building a consumer with a test's retry budget,
and reading the parking lot without disturbing it.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractRobustConnection

from services.crm_writer.consumer import DealConsumer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.store import EventRecord, EventStatus, Store
from services.crm_writer.wiring import deal_consumer
from shared.events import SignedDocumentEvent
from shared.messages import build_message
from shared.topology import Topology, routing_key_for
from tests.clicksign_events import clicksign_event

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = WAIT_SECONDS
) -> None:
    """Poll ``condition`` (plain or async) until it holds; AssertionError after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = condition()
        if await answer if inspect.isawaitable(answer) else answer:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def publish_event(
    channel: AbstractChannel, topology: Topology, event: SignedDocumentEvent
) -> None:
    """Publish ``event`` exactly as ingest does (same message, exchange and routing key)."""
    exchange = await channel.get_exchange(topology.events_exchange, ensure=False)
    await exchange.publish(build_message(event), routing_key_for(event.event_name), mandatory=True)


async def publish_sign(amqp_url: str, topology: Topology) -> str:
    """Publish one ``sign`` on a new document, as ingest does, on a connection of its own;
    returns its event id."""
    event = clicksign_event("sign", str(uuid.uuid4()))
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.events_exchange)
        await exchange.publish(build_message(event), routing_key_for("sign"), mandatory=True)
    return event.event_id


@dataclass
class ConsumerFactory:
    """Builds `DealConsumer`s wired like crm_writer's app; ``stop_all`` at the end of a test."""

    topology: Topology
    rd_client: RdStationClient
    deal_settings: DealSettings
    max_attempts: int = 8
    max_age_seconds: float = 600.0

    def __post_init__(self) -> None:
        self.started: list[DealConsumer] = []

    async def start(
        self,
        connection: AbstractRobustConnection,
        store: Store,
        *,
        prefetch: int = 8,
        pipeline: DealPipeline | None = None,
        rd_client: RdStationClient | None = None,
    ) -> DealConsumer:
        consumer = deal_consumer(
            connection=connection,
            topology=self.topology,
            store=store,
            pipeline=pipeline
            or DealPipeline(store, rd_client or self.rd_client, self.deal_settings),
            max_attempts=self.max_attempts,
            max_age_seconds=self.max_age_seconds,
            prefetch=prefetch,
        )
        await consumer.start()
        self.started.append(consumer)
        return consumer

    async def stop_all(self) -> None:
        for consumer in self.started:
            await consumer.stop(drain_seconds=5)
        self.started.clear()


async def statuses(store: Store, event_ids: list[str]) -> dict[str, EventStatus | None]:
    records = [await store.get_event(event_id) for event_id in event_ids]
    return {
        event_id: record.status if record else None
        for event_id, record in zip(event_ids, records, strict=True)
    }


async def all_reach(
    store: Store,
    event_ids: list[str],
    status: EventStatus = EventStatus.DONE,
    timeout: float = WAIT_SECONDS,
) -> list[EventRecord]:
    """Wait until every event has ``status``; their records."""

    async def reached() -> bool:
        return all(found is status for found in (await statuses(store, event_ids)).values())

    try:
        await until(reached, f"{len(event_ids)} events to be {status}", timeout)
    except AssertionError:
        late = {k: v for k, v in (await statuses(store, event_ids)).items() if v is not status}
        raise AssertionError(f"not {status} after {timeout:g}s: {late}") from None
    records = [await store.get_event(event_id) for event_id in event_ids]
    return [record for record in records if record is not None]


async def queue_depth(connection: AbstractConnection, queue_name: str) -> int:
    """Messages ready in ``queue_name`` (quorum queues count unacked deliveries out)."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(queue_name, passive=True)
        count = queue.declaration_result.message_count
        return int(count or 0)
    finally:
        await channel.close()


async def read_parked(
    connection: AbstractConnection, topology: Topology
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message in the parking lot, all handed back afterwards (nothing is consumed)."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(topology.dead_queue, passive=True)
        found = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            found.append(message)
        for message in found:
            await message.nack(requeue=True)
        return found
    finally:
        await channel.close()


async def wait_for_parked(
    connection: AbstractConnection, topology: Topology, count: int, timeout: float = WAIT_SECONDS
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Wait until the parking lot holds ``count`` messages; them (left in place)."""
    found: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def enough() -> bool:
        nonlocal found
        found = await read_parked(connection, topology)
        return len(found) >= count

    await until(enough, f"{count} parked messages", timeout)
    return found
