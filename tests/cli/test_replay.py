"""``signdeal replay``: parked messages back to the work queue, chosen by id or document.

The end-to-end case (parked by crm_writer, replayed, then done) is in test_send_test.py; here
the parking lot is filled directly, and no consumer takes what comes back.
"""

from __future__ import annotations

import aio_pika
import orjson
import pytest

from services.crm_writer.store import EventStatus, Store
from shared.events import SignedDocumentEvent
from shared.messages import PARKED_REASON_HEADER, build_message
from shared.topology import Topology
from tests.cli.conftest import RunCli
from tests.clicksign_events import clicksign_event

pytestmark = pytest.mark.usefixtures("env")


async def park(amqp_url: str, topology: Topology, *events: SignedDocumentEvent) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for event in events:
            message = build_message(event)
            message.headers[PARKED_REASON_HEADER] = "RD Station: invalid deal (422 on /deals)"
            await channel.default_exchange.publish(message, routing_key=topology.dead_queue)


async def queue_sizes(amqp_url: str, topology: Topology) -> tuple[int, int]:
    """(work queue, parking lot) message counts."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        work = await channel.declare_queue(topology.work_queue, passive=True)
        dead = await channel.declare_queue(topology.dead_queue, passive=True)
        return (
            work.declaration_result.message_count or 0,
            dead.declaration_result.message_count or 0,
        )


@pytest.mark.usefixtures("declared_topology")
async def test_replay_by_document_leaves_the_others_parked(
    signdeal: RunCli, amqp_url: str, topology: Topology
) -> None:
    wanted, other = clicksign_event("sign"), clicksign_event("sign")
    await park(amqp_url, topology, wanted, other)

    result = await signdeal("replay", "--document", wanted.document_key)

    assert result.code == 0, result.err
    assert wanted.event_id in result.out
    assert other.event_id not in result.out
    assert "RD Station: invalid deal" in result.out
    assert "1 other parked event(s) stay parked" in result.out
    assert await queue_sizes(amqp_url, topology) == (1, 1)


@pytest.mark.usefixtures("declared_topology")
async def test_replay_all_as_json(signdeal: RunCli, amqp_url: str, topology: Topology) -> None:
    events = [clicksign_event("sign"), clicksign_event("sign")]
    await park(amqp_url, topology, *events)

    result = await signdeal("replay", "--all-parked", "--json")

    report = orjson.loads(result.out)
    assert result.code == 0
    assert {event["event_id"] for event in report["replayed"]} == {e.event_id for e in events}
    assert report["kept"] == 0
    assert report["not_parked"] == []
    assert await queue_sizes(amqp_url, topology) == (2, 0)


@pytest.mark.usefixtures("declared_topology")
async def test_an_id_that_is_not_parked_is_not_found(
    signdeal: RunCli, amqp_url: str, topology: Topology
) -> None:
    parked = clicksign_event("sign")
    await park(amqp_url, topology, parked)

    result = await signdeal("replay", parked.event_id, "not-parked")

    assert result.code == 1
    assert "replayed 1 event(s)" in result.out
    assert "not in the parking lot: not-parked" in result.out


async def test_selection_is_required_and_all_parked_stands_alone(signdeal: RunCli) -> None:
    nothing = await signdeal("replay")
    both = await signdeal("replay", "--all-parked", "some-event")

    assert nothing.code == 2
    assert "say what to replay" in nothing.err
    assert both.code == 2


async def test_broker_without_the_parking_lot(signdeal: RunCli, topology: Topology) -> None:
    result = await signdeal("replay", "--all-parked")

    assert result.code == 1
    assert f"no parking lot {topology.dead_queue}" in result.err


@pytest.mark.usefixtures("declared_topology")
async def test_a_replay_is_recorded_in_the_history_as_the_pages_are(
    signdeal: RunCli, amqp_url: str, topology: Topology, command_store: Store
) -> None:
    event = clicksign_event("sign")
    await command_store.begin_attempt(event)
    await command_store.finish_event(event.event_id, status=EventStatus.PARKED, error="RD 422")
    await park(amqp_url, topology, event)

    result = await signdeal("replay", event.event_id, "--json")

    assert result.code == 0, result.err
    assert orjson.loads(result.out)["recorded_in_history"] is True
    record = await command_store.get_event(event.event_id)
    assert record is not None
    [replay] = record.replays
    assert replay["by"] == "signdeal replay"


@pytest.mark.usefixtures("declared_topology")
async def test_a_replay_the_history_cannot_record_still_happens_and_says_so(
    signdeal: RunCli, amqp_url: str, topology: Topology
) -> None:
    # The env's SQLite store does not exist yet: nothing to record into.
    event = clicksign_event("sign")
    await park(amqp_url, topology, event)

    result = await signdeal("replay", event.event_id)

    assert result.code == 0, result.err
    assert "not recorded in the history as replayed: no history yet" in result.out
    assert await queue_sizes(amqp_url, topology) == (1, 0)
