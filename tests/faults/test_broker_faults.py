"""The broker connection cut under load, between a service and RabbitMQ (a TCP proxy; the shared
broker itself is never touched)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from structlog.testing import capture_logs
from yarl import URL

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.store import EventStatus, Store
from shared.topology import Topology
from tests.clicksign_events import sign_events
from tests.consumer_harness import ConsumerFactory, all_reach, publish_event, until
from tests.faults.conftest import Figures
from tests.faults.effects import tally_effects
from tests.faults.webhooks import (
    ACCEPTED,
    duplicates_recorded,
    make_webhooks,
    resend_until_accepted,
    send_burst,
)
from tests.plugins.broker import proxied_amqp_url
from tests.service_processes import ProcessGroup, start_ingest
from tests.tcp_proxy import TcpProxy

# aio-pika waits 5 s between reconnection attempts by default.
FAST_RECONNECT = {"reconnect_interval": "1", "heartbeat": "5"}
OUTAGE_SECONDS = 2.5


def through_proxy(amqp_url: str, proxy: TcpProxy) -> str:
    return str(URL(proxied_amqp_url(amqp_url, proxy)).update_query(FAST_RECONNECT))


async def done_count(store: Store, event_ids: list[str]) -> int:
    records = [await store.get_event(event_id) for event_id in event_ids]
    return sum(1 for record in records if record and record.status is EventStatus.DONE)


@pytest_asyncio.fixture
async def proxied_connection(
    amqp_url: str, broker_proxy: TcpProxy
) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(through_proxy(amqp_url, broker_proxy))
    yield connection
    await connection.close()


async def test_consumer_resumes_by_itself_after_cuts_mid_burst(
    proxied_connection: AbstractRobustConnection,
    consumers: ConsumerFactory,
    broker_proxy: TcpProxy,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    """Two faults while 60 events drain: every connection dropped at once (reconnect at once),
    then the broker unreachable for a while. Deliveries in flight die with their channel."""
    rd.faults.set_latency(20)  # keeps deliveries in flight when the connection drops
    events = sign_events(60, "consumercut")
    ids = [event.event_id for event in events]
    with capture_logs() as logs:
        await consumers.start(proxied_connection, sqlite_store, prefetch=8)
        for event in events:
            await publish_event(channel, topology, event)

        await until(_at_least(sqlite_store, ids, 15), "15 events done before the first cut")
        broker_proxy.cut()
        await until(_at_least(sqlite_store, ids, 35), "35 events done after the first cut")
        broker_proxy.refuse()
        await asyncio.sleep(OUTAGE_SECONDS)
        broker_proxy.restore()
        await all_reach(sqlite_store, ids, timeout=60)
        await consumers.stop_all()
    tally = await tally_effects(sqlite_store, rd.state, events)
    events_logged = [line["event"] for line in logs]
    figures.record(
        faults_injected=2,
        events_sent=len(events),
        tally=tally,
        acks_skipped=events_logged.count("message.ack_skipped"),
        redelivered_duplicates=events_logged.count("event.duplicate"),
    )

    assert tally.clean, tally.problems
    assert broker_proxy.connection_count >= 1  # it came back through the proxy by itself
    # Deliveries in flight at a cut were finished, not cut short: their acks were skipped, the
    # broker redelivered them and the redelivery found them done, with no deal to recover.
    assert events_logged.count("message.ack_skipped") >= 1
    assert events_logged.count("event.duplicate") >= 1
    assert "deal.recovered" not in events_logged


def _at_least(store: Store, ids: list[str], count: int) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        return await done_count(store, ids) >= count

    return reached


async def test_ingest_accepts_only_confirmed_webhooks_across_a_broker_outage(
    amqp_url: str,
    amqp_connection: AbstractRobustConnection,
    broker_proxy: TcpProxy,
    service_topology: Topology,
    unchecked_processes: ProcessGroup,
    sqlite_store: Store,
    rd: SandboxServer,
    impatient_rd_client: RdStationClient,
    deal_settings: DealSettings,
    figures: Figures,
) -> None:
    """80 webhooks while ingest's broker link goes down for a while: each answer is 202
    (confirmed) or 503; Clicksign retries the 503s; then every event is processed once."""
    ingest = await start_ingest(
        unchecked_processes,
        through_proxy(amqp_url, broker_proxy),
        service_topology,
        INGEST_PUBLISH_TIMEOUT_SECONDS="3",
    )
    await ingest.wait_until_ready()
    webhooks = make_webhooks(80, "ingestcut")
    outage: list[asyncio.Task[None]] = []

    async def outage_for_a_while() -> None:
        broker_proxy.refuse()
        await asyncio.sleep(OUTAGE_SECONDS)
        broker_proxy.restore()

    def maybe_cut(answered: int) -> None:
        if answered == 20:
            outage.append(asyncio.create_task(outage_for_a_while()))

    await send_burst(ingest.base_url, webhooks, concurrency=8, after_each=maybe_cut)
    await asyncio.gather(*outage)
    first_answers = [webhook.answers[0] for webhook in webhooks]
    retries = await resend_until_accepted(ingest.base_url, webhooks)

    factory = ConsumerFactory(service_topology, impatient_rd_client, deal_settings)
    try:
        await factory.start(amqp_connection, sqlite_store, prefetch=16)
        await all_reach(sqlite_store, [webhook.event.event_id for webhook in webhooks], timeout=60)
    finally:
        await factory.stop_all()
    tally = await tally_effects(sqlite_store, rd.state, [webhook.event for webhook in webhooks])
    figures.record(
        faults_injected=1,
        events_sent=len(webhooks),
        tally=tally,
        first_pass_202=first_answers.count(ACCEPTED),
        first_pass_503=first_answers.count(503),
        clicksign_retries=retries,
        duplicate_messages=await duplicates_recorded(sqlite_store, webhooks),
    )

    assert set(first_answers) <= {ACCEPTED, 503}
    assert 503 in first_answers  # the outage was felt
    assert tally.clean, tally.problems


async def test_an_event_whose_retry_queues_were_deleted_still_becomes_its_deal(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    # What `broker.topology_mismatch` tells operators to do: the retry tiers are gone when the
    # first RD failure sends the event to one. The copy comes back unroutable; it must not be
    # acked away (it was, silently, while the copy was published without looking at the answer).
    await consumers.start(amqp_connection, sqlite_store)
    for queue in topology.retry_queues:
        await channel.queue_delete(queue)
    rd.faults.fail_next(1, 500, method="POST", path_prefix="/deals")
    [event] = sign_events(1, "noretryq")

    with capture_logs() as logs:
        await publish_event(channel, topology, event)
        [record] = await all_reach(sqlite_store, [event.event_id])
    tally = await tally_effects(sqlite_store, rd.state, [event])
    figures.record(faults_injected=1, events_sent=1, tally=tally)

    assert tally.clean, tally.problems
    assert record.deal_id is not None
    assert any(line["event"] == "broker.redeclaring_topology" for line in logs)
    assert any(line["event"] == "event.retry_scheduled" for line in logs)
    for queue in topology.retry_queues:  # declared again on the way
        await channel.declare_queue(queue, passive=True)
