"""Replaying the parking lot: selected messages go back to work and are processed normally,
the others stay parked untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from sandbox.clicksign import make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.replay import replay_parked
from services.crm_writer.store import EventStatus, Store
from shared.events import SignedDocumentEvent
from shared.messages import (
    ATTEMPTS_HEADER,
    PARKED_REASON_HEADER,
    REPLAYED_AT_HEADER,
    ROUTING_KEY_HEADER,
)
from shared.topology import Topology, routing_key_for
from tests.clicksign_events import clicksign_event
from tests.consumer_harness import (
    ConsumerFactory,
    all_reach,
    publish_event,
    read_parked,
    wait_for_parked,
)

REJECTION = "Nome do negócio já existe neste funil"


@pytest_asyncio.fixture
async def parked_three(
    consumer_factory: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> list[SignedDocumentEvent]:
    """Three events for three documents, parked because RD refused their deals; RD fixed."""
    await consumer_factory.start(amqp_connection, sqlite_store)
    rd.faults.reject_deal_creation(REJECTION)
    events = [
        clicksign_event("sign", f"doc-replay-{index}-{uuid.uuid4().hex[:6]}", make_signers(1))
        for index in range(3)
    ]
    for event in events:
        await publish_event(channel, topology, event)
    records = await all_reach(sqlite_store, [e.event_id for e in events], EventStatus.PARKED)
    assert all(REJECTION in (record.error or "") for record in records)
    await wait_for_parked(amqp_connection, topology, 3)
    rd.faults.clear_deal_rejection()
    return events


async def test_replay_by_event_id_makes_exactly_one_deal(
    parked_three: list[SignedDocumentEvent],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    chosen = parked_three[1]

    report = await replay_parked(amqp_connection, topology, event_ids=[chosen.event_id])

    assert report.replayed_ids == [chosen.event_id]
    assert len(report.kept) == 2
    record = (await all_reach(sqlite_store, [chosen.event_id]))[0]
    assert record.attempts == 2  # the rejected attempt, then the replayed one
    assert [deal.id for deal in rd.state.deals] == [record.deal_id]
    still_parked = await read_parked(amqp_connection, topology)
    assert {m.message_id for m in still_parked} == {
        parked_three[0].event_id,
        parked_three[2].event_id,
    }


async def test_replay_by_document_key(
    parked_three: list[SignedDocumentEvent],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    chosen = parked_three[2]

    report = await replay_parked(amqp_connection, topology, document_key=chosen.document_key)

    assert report.replayed_ids == [chosen.event_id]
    await all_reach(sqlite_store, [chosen.event_id])
    assert len(rd.state.deals) == 1
    assert len(await read_parked(amqp_connection, topology)) == 2


async def test_replay_all_empties_the_parking_lot(
    parked_three: list[SignedDocumentEvent],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    report = await replay_parked(amqp_connection, topology, all_parked=True)

    assert sorted(map(str, report.replayed_ids)) == sorted(e.event_id for e in parked_three)
    await all_reach(sqlite_store, [e.event_id for e in parked_three])
    assert len(rd.state.deals) == 3
    assert await read_parked(amqp_connection, topology) == []


async def test_replay_with_a_limit_leaves_the_rest_in_place(
    parked_three: list[SignedDocumentEvent],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    sqlite_store: Store,
) -> None:
    report = await replay_parked(amqp_connection, topology, all_parked=True, limit=1)

    assert len(report.replayed) == 1
    await all_reach(sqlite_store, [str(report.replayed_ids[0])])
    assert len(await read_parked(amqp_connection, topology)) == 2


async def test_unselected_messages_stay_parked_untouched_and_in_order(
    parked_three: list[SignedDocumentEvent],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
) -> None:
    before = await read_parked(amqp_connection, topology)

    report = await replay_parked(amqp_connection, topology, event_ids=["no-such-event"])

    assert report.replayed == []
    assert len(report.kept) == 3
    after = await read_parked(amqp_connection, topology)
    assert [m.message_id for m in after] == [m.message_id for m in before]
    assert [m.body for m in after] == [m.body for m in before]
    assert all(REJECTION in str(m.headers[PARKED_REASON_HEADER]) for m in after)


async def test_the_replayed_copy_starts_a_fresh_budget_and_keeps_its_routing_key(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
) -> None:
    # No consumer: the replayed copy stays in the work queue where the test can look at it.
    event = clicksign_event("sign", f"doc-headers-{uuid.uuid4().hex[:6]}")
    dead_exchange = await channel.get_exchange(topology.dead_letter_exchange)
    parked = aio_pika.Message(
        event.to_json(),
        message_id=event.event_id,
        headers={
            ATTEMPTS_HEADER: 8,
            PARKED_REASON_HEADER: "gave up after 8 attempts",
            ROUTING_KEY_HEADER: routing_key_for("sign"),
            "schema_version": 1,
        },
    )
    await dead_exchange.publish(parked, routing_key=topology.dead_queue)

    report = await replay_parked(channel, topology, event_ids=[event.event_id])

    assert report.replayed_ids == [event.event_id]
    work_queue = await channel.declare_queue(topology.work_queue, passive=True)
    copy = await work_queue.get(no_ack=True)
    assert copy.message_id == event.event_id
    assert copy.body == event.to_json()
    assert copy.headers[ATTEMPTS_HEADER] == 0
    assert PARKED_REASON_HEADER not in copy.headers
    assert copy.headers[ROUTING_KEY_HEADER] == routing_key_for("sign")
    replayed_at = datetime.fromisoformat(str(copy.headers[REPLAYED_AT_HEADER]))
    assert abs(datetime.now(UTC) - replayed_at) < timedelta(minutes=1)


async def test_an_old_replayed_event_gets_retries_again(
    consumer_factory: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    """Parked a day ago: on replay a 503 is retried, not parked at once for the event's age."""
    await consumer_factory.start(amqp_connection, sqlite_store)
    event = clicksign_event(
        "sign",
        f"doc-old-{uuid.uuid4().hex[:6]}",
        make_signers(2),
        received_at=datetime.now(UTC) - timedelta(days=1),
    )
    dead_exchange = await channel.get_exchange(topology.dead_letter_exchange)
    await dead_exchange.publish(
        aio_pika.Message(event.to_json(), message_id=event.event_id),
        routing_key=topology.dead_queue,
    )
    rd.faults.fail_next(1, 503, method="POST", path_prefix="/deals")

    await replay_parked(amqp_connection, topology, event_ids=[event.event_id])

    record = (await all_reach(sqlite_store, [event.event_id]))[0]
    assert record.attempts == 2
    assert len(rd.state.deals) == 1


async def test_unreadable_messages_are_replayed_only_with_all_parked(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
) -> None:
    dead_exchange = await channel.get_exchange(topology.dead_letter_exchange)
    await dead_exchange.publish(
        aio_pika.Message(b"not json", message_id="garbage-1"), routing_key=topology.dead_queue
    )

    by_key = await replay_parked(amqp_connection, topology, document_key="garbage-1")
    everything = await replay_parked(amqp_connection, topology, all_parked=True)

    assert by_key.replayed == []
    assert by_key.kept[0].document_key is None
    assert everything.replayed_ids == ["garbage-1"]


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({}, "say what to replay"),
        ({"all_parked": True, "document_key": "k"}, "do not combine"),
        ({"event_ids": ["a"], "limit": 0}, "limit"),
    ],
)
async def test_a_replay_must_say_what_it_replays(
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    arguments: dict[str, object],
    complaint: str,
) -> None:
    with pytest.raises(ValueError, match=complaint):
        await replay_parked(amqp_connection, topology, **arguments)  # type: ignore[arg-type]
