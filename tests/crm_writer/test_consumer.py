"""The consumer against the real broker: ack after the outcome, retries, parking, duplicates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from sandbox.clicksign import make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer import consumer as consumer_module
from services.crm_writer.consumer import DealConsumer
from services.crm_writer.store import EventRecord, EventStatus, Outcome, Store
from services.crm_writer.store.stored_payload import stored_payload
from shared.events import SignedDocumentEvent
from shared.messages import ATTEMPTS_HEADER, PARKED_REASON_HEADER, build_message
from shared.topology import Topology, routing_key_for
from tests.clicksign_events import clicksign_event

WAIT_SECONDS = 20.0


async def publish(channel: AbstractChannel, topology: Topology, event: SignedDocumentEvent) -> None:
    exchange = await channel.get_exchange(topology.events_exchange)
    await exchange.publish(build_message(event), routing_key_for(event.event_name), mandatory=True)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def settled(store: Store, event_id: str, status: EventStatus) -> EventRecord:
    async def reached() -> bool:
        record = await store.get_event(event_id)
        return record is not None and record.status == status

    await until(reached, f"event {event_id} to be {status}")
    record = await store.get_event(event_id)
    assert record is not None
    return record


async def next_parked(channel: AbstractChannel, topology: Topology) -> AbstractIncomingMessage:
    """The next message in the parking lot (quorum queues report counts lazily: poll ``get``)."""
    queue = await channel.declare_queue(topology.dead_queue, passive=True)
    found: list[AbstractIncomingMessage] = []

    async def arrived() -> bool:
        message = await queue.get(fail=False, no_ack=False)
        if message is not None:
            found.append(message)
        return bool(found)

    await until(arrived, "a parked message")
    return found[0]


async def test_signed_event_becomes_a_deal_and_its_history(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    event = clicksign_event("sign", str(uuid.uuid4()))
    await publish(channel, topology, event)

    record = await settled(sqlite_store, event.event_id, EventStatus.DONE)

    assert record.outcome is Outcome.CREATED
    assert record.deal_id == rd.state.deals[0].id
    # Stored without signing links, IP and location (docs/privacy.md); the rest as it came.
    assert record.payload["raw"] == stored_payload(event)["raw"]
    assert record.correlation_id == event.correlation_id
    posted = [
        call for call in record.rd_calls if call["method"] == "POST" and call["path"] == "/deals"
    ]
    assert posted[0]["status"] == 200
    assert posted[0]["response"]["_id"] == record.deal_id
    assert "token" not in str(record.rd_calls)


async def test_an_ignored_event_says_why_in_its_history(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    event = clicksign_event("cancel", str(uuid.uuid4()))
    await publish(channel, topology, event)

    record = await settled(sqlite_store, event.event_id, EventStatus.DONE)

    assert record.outcome is Outcome.IGNORED
    assert record.note is not None
    assert "cancel" in record.note
    assert record.error is None
    assert not rd.state.deals


async def test_the_same_webhook_five_times_makes_one_deal(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    event = clicksign_event("sign", str(uuid.uuid4()))
    for _ in range(5):
        await publish(channel, topology, event)

    async def four_duplicates() -> bool:
        record = await sqlite_store.get_event(event.event_id)
        return record is not None and record.duplicates == 4

    await until(four_duplicates, "four duplicates recorded")
    assert len(rd.state.deals) == 1


async def test_rd_server_error_is_retried_through_a_retry_queue(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    rd.faults.fail_next(1, 500, method="POST", path_prefix="/deals")
    event = clicksign_event("sign", str(uuid.uuid4()))
    await publish(channel, topology, event)

    await settled(sqlite_store, event.event_id, EventStatus.RETRYING)
    record = await settled(sqlite_store, event.event_id, EventStatus.DONE)

    assert record.attempts == 2
    deal_calls = [(c["method"], c["status"]) for c in record.rd_calls if c["path"] == "/deals"]
    # The second attempt first looks for a deal the failed create might have left behind.
    assert deal_calls == [("POST", 500), ("GET", 200), ("POST", 200)]
    assert len(rd.state.deals) == 1


async def test_rd_validation_error_parks_the_event_with_rds_message(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    rd.faults.reject_deal_creation("Nome do negócio inválido")
    event = clicksign_event("sign", str(uuid.uuid4()))
    await publish(channel, topology, event)

    record = await settled(sqlite_store, event.event_id, EventStatus.PARKED)

    assert "Nome do negócio inválido" in (record.error or "")
    parked = await next_parked(channel, topology)
    assert parked.message_id == event.event_id
    assert "Nome do negócio inválido" in str(parked.headers[PARKED_REASON_HEADER])
    await parked.ack()


async def test_retry_budget_runs_out_into_the_parking_lot(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    rd.faults.fail_next(10, 503, method="POST", path_prefix="/deals")
    event = clicksign_event("sign", str(uuid.uuid4()))
    await publish(channel, topology, event)

    record = await settled(sqlite_store, event.event_id, EventStatus.PARKED)

    assert record.attempts == 3
    assert "gave up after 3 attempts" in (record.error or "")
    parked = await next_parked(channel, topology)
    assert parked.headers[ATTEMPTS_HEADER] == 3
    await parked.ack()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json at all", {}),
        (b'{"schema_version": 1}', {}),
        (b"{}", {"schema_version": 99}),
    ],
)
async def test_garbage_is_parked_and_the_consumer_keeps_going(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    body: bytes,
    headers: dict[str, int],
) -> None:
    exchange = await channel.get_exchange(topology.events_exchange)
    await exchange.publish(
        aio_pika.Message(body, headers=headers, message_id="garbage"), routing_key_for("sign")
    )
    message = await next_parked(channel, topology)
    assert message.body == body
    assert "unreadable" in str(message.headers[PARKED_REASON_HEADER])
    await message.ack()

    event = clicksign_event("sign", str(uuid.uuid4()), make_signers(1))
    await publish(channel, topology, event)
    await settled(sqlite_store, event.event_id, EventStatus.DONE)


async def test_a_parked_message_that_is_no_event_has_its_history_row(
    consumer: DealConsumer, channel: AbstractChannel, topology: Topology, sqlite_store: Store
) -> None:
    # A document event whose signer list is of the wrong type: JSON, but no event.
    key = str(uuid.uuid4())
    body = orjson.dumps({"schema_version": 1, "document": {"key": key}, "signers": "Ana"})
    exchange = await channel.get_exchange(topology.events_exchange)
    await exchange.publish(
        aio_pika.Message(body, message_id=f"id-{key}", type="sign", correlation_id="corr-9"),
        routing_key_for("sign"),
    )
    parked = await next_parked(channel, topology)
    assert parked.body == body
    await parked.ack()

    record = await settled(sqlite_store, f"id-{key}", EventStatus.PARKED)
    assert (record.document_key, record.event_name, record.correlation_id) == (
        key,
        "sign",
        "corr-9",
    )
    assert record.error is not None and record.error.startswith("unreadable message: ")
    assert record.payload == {}


async def test_a_failure_after_the_effect_leaves_the_event_done_and_its_copy_a_duplicate(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # event.processed raises after the history says done: the delivery goes back to the
    # broker, and its redelivery must be counted as a copy, not applied a second time.
    monkeypatch.setattr(
        consumer_module, "log", LogThatFailsOnce(consumer_module.log, "event.processed")
    )
    event = clicksign_event("sign", str(uuid.uuid4()))
    await publish(channel, topology, event)

    async def copy_counted() -> bool:
        record = await sqlite_store.get_event(event.event_id)
        return record is not None and record.duplicates == 1

    await until(copy_counted, "the redelivered copy to be counted")
    record = await sqlite_store.get_event(event.event_id)
    assert record is not None
    assert (record.status, record.attempts) == (EventStatus.DONE, 1)


async def consumer_idle(consumer: DealConsumer) -> bool:
    return not consumer._in_flight


class LogThatFailsOnce:
    """The consumer's logger, except that one line raises the first time it is written (a
    broken renderer, a full disk): logging must never leave a delivery unsettled."""

    def __init__(self, real: Any, failing_event: str) -> None:
        self.real = real
        self.failing_event = failing_event
        self.failed = False

    def __getattr__(self, level: str) -> Callable[..., Any]:
        def write(event: str, *args: Any, **fields: Any) -> Any:
            if event == self.failing_event and not self.failed:
                self.failed = True
                raise TypeError("can only concatenate str (not 'list') to str")
            return getattr(self.real, level)(event, *args, **fields)

        return write


@pytest.mark.parametrize("failing_event", ["event.consumed", "event.processed"])
async def test_a_log_line_that_raises_does_not_leave_the_message_unsettled(
    consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    failing_event: str,
) -> None:
    failing = LogThatFailsOnce(consumer_module.log, failing_event)
    monkeypatch.setattr(consumer_module, "log", failing)
    event = clicksign_event("sign", str(uuid.uuid4()))
    await publish(channel, topology, event)

    record = await settled(sqlite_store, event.event_id, EventStatus.DONE)
    await until(lambda: consumer_idle(consumer), "the consumer to settle its deliveries")
    await consumer.stop(drain_seconds=5)  # an unsettled delivery would go back to the queue now

    assert failing.failed
    assert len(rd.state.deals) == 1
    assert record.deal_id == rd.state.deals[0].id
    work_queue = await channel.declare_queue(topology.work_queue, passive=True)
    assert await work_queue.get(no_ack=True, fail=False, timeout=5) is None
