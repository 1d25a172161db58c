"""crm_writer's metrics move as events flow: the in-process consumer against the real broker and
the RD sandbox, observed by the Prometheus observer on a registry of the test's own."""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from prometheus_client import CollectorRegistry

from sandbox.clicksign import make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer import backlog
from services.crm_writer.backlog import BacklogProbe
from services.crm_writer.consumer import DealConsumer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.metrics import PrometheusCrmWriterObserver
from services.crm_writer.pipeline import DealPipeline, DealResult
from services.crm_writer.rdstation import RdCall, RdStationClient, RdStationUnavailable
from services.crm_writer.store import EventStatus, Store, open_store
from services.crm_writer.wiring import deal_consumer
from shared.events import SignedDocumentEvent
from shared.topology import Topology, routing_key_for
from tests.clicksign_events import clicksign_event, minimal_event
from tests.consumer_harness import publish_event, until


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def observer(registry: CollectorRegistry) -> PrometheusCrmWriterObserver:
    return PrometheusCrmWriterObserver(registry)


@pytest.fixture
def observed_rd(
    rd_client: RdStationClient, observer: PrometheusCrmWriterObserver
) -> RdStationClient:
    return dataclasses.replace(rd_client, observer=observer)


class CrashingOncePipeline(DealPipeline):
    """A bug on the first try only: the event is handed back to the broker, then done."""

    crashed = False

    async def apply(self, event: SignedDocumentEvent, calls: list[RdCall]) -> DealResult:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("a bug that goes away")
        return await super().apply(event, calls)


async def start_consumer(
    connection: AbstractRobustConnection,
    topology: Topology,
    store: Store,
    pipeline: DealPipeline,
    observer: PrometheusCrmWriterObserver,
) -> DealConsumer:
    consumer = deal_consumer(
        connection=connection,
        topology=topology,
        store=store,
        pipeline=pipeline,
        max_attempts=3,
        max_age_seconds=60,
        prefetch=4,
        observer=observer,
    )
    await consumer.start()
    return consumer


@pytest_asyncio.fixture
async def observed_consumer(
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    sqlite_store: Store,
    observed_rd: RdStationClient,
    deal_settings: DealSettings,
    observer: PrometheusCrmWriterObserver,
    channel: AbstractChannel,
) -> AsyncIterator[DealConsumer]:
    pipeline = DealPipeline(sqlite_store, observed_rd, deal_settings)
    consumer = await start_consumer(amqp_connection, topology, sqlite_store, pipeline, observer)
    yield consumer
    await consumer.stop(drain_seconds=5)


def consumed(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value("signdeal_messages_consumed_total", {"outcome": outcome})
    return value or 0.0


def processing_count(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value(
        "signdeal_event_processing_duration_seconds_count", {"outcome": outcome}
    )
    return value or 0.0


def rd_requests(registry: CollectorRegistry, method: str, endpoint: str, status: str) -> float:
    value = registry.get_sample_value(
        "signdeal_rd_requests_total",
        {"method": method, "endpoint": endpoint, "status_class": status},
    )
    return value or 0.0


def all_rd_requests(registry: CollectorRegistry) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "signdeal_rd_requests"
        for sample in family.samples
        if sample.name == "signdeal_rd_requests_total"
    )


async def counted(registry: CollectorRegistry, outcome: str, times: int = 1) -> None:
    await until(lambda: consumed(registry, outcome) >= times, f"{times} {outcome} counted")


async def test_created_updated_and_duplicate_are_counted_and_timed(
    observed_consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    registry: CollectorRegistry,
) -> None:
    document_key = str(uuid.uuid4())
    signers = make_signers(2)
    first = clicksign_event("sign", document_key, signers, signer_index=0)
    second = clicksign_event("sign", document_key, signers, signer_index=1)

    await publish_event(channel, topology, first)
    await counted(registry, "created")
    await publish_event(channel, topology, second)
    await counted(registry, "updated")
    await publish_event(channel, topology, first)
    await counted(registry, "duplicate")

    assert [consumed(registry, o) for o in ("created", "updated", "duplicate")] == [1, 1, 1]
    assert processing_count(registry, "created") == 1
    assert processing_count(registry, "duplicate") == 1
    assert rd_requests(registry, "POST", "/deals", "2xx") == 1
    assert rd_requests(registry, "GET", "/contacts", "2xx") == 2
    assert rd_requests(registry, "POST", "/contacts", "2xx") == 2
    total = all_rd_requests(registry)
    posted = {"method": "POST", "endpoint": "/deals"}
    assert registry.get_sample_value("signdeal_rd_request_duration_seconds_count", posted) == 1
    # Every request waited on the limiter, even when the wait was nothing.
    assert registry.get_sample_value("signdeal_rd_rate_limit_wait_seconds_count") == total


async def test_a_retried_then_created_event_counts_both_and_rds_5xx(
    observed_consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    registry: CollectorRegistry,
    rd: SandboxServer,
) -> None:
    rd.faults.fail_next(1, 500, method="POST", path_prefix="/deals")
    await publish_event(channel, topology, clicksign_event("sign", str(uuid.uuid4())))

    await counted(registry, "created")

    assert consumed(registry, "retried") == 1
    assert rd_requests(registry, "POST", "/deals", "5xx") == 1
    assert rd_requests(registry, "POST", "/deals", "2xx") == 1


async def test_a_rejected_deal_counts_as_parked_with_rds_4xx(
    observed_consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    registry: CollectorRegistry,
    rd: SandboxServer,
) -> None:
    rd.faults.reject_deal_creation("Nome do negócio inválido")
    await publish_event(channel, topology, clicksign_event("sign", str(uuid.uuid4())))

    await counted(registry, "parked")

    assert rd_requests(registry, "POST", "/deals", "4xx") == 1
    assert processing_count(registry, "parked") == 1


async def test_garbage_counts_as_unreadable(
    observed_consumer: DealConsumer,
    channel: AbstractChannel,
    topology: Topology,
    registry: CollectorRegistry,
) -> None:
    exchange = await channel.get_exchange(topology.events_exchange)
    await exchange.publish(aio_pika.Message(b"not json", message_id="x"), routing_key_for("sign"))

    await counted(registry, "unreadable")

    assert processing_count(registry, "unreadable") == 1


async def test_an_unexpected_error_counts_as_crashed_then_the_redelivery_as_created(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    observed_rd: RdStationClient,
    deal_settings: DealSettings,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
) -> None:
    pipeline = CrashingOncePipeline(sqlite_store, observed_rd, deal_settings)
    consumer = await start_consumer(amqp_connection, topology, sqlite_store, pipeline, observer)
    try:
        await publish_event(channel, topology, clicksign_event("sign", str(uuid.uuid4())))
        await counted(registry, "created")
    finally:
        await consumer.stop(drain_seconds=5)

    assert consumed(registry, "crashed") == 1


async def test_rd_giving_no_answer_counts_as_error(
    rd: SandboxServer,
    rd_client: RdStationClient,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
) -> None:
    impatient = dataclasses.replace(rd_client, observer=observer, timeout_seconds=0.2)
    rd.faults.hang_next(1, seconds=2.0, path_prefix="/contacts")

    with pytest.raises(RdStationUnavailable):
        await impatient.recording([]).find_contacts_by_email("ana@example.com")

    assert rd_requests(registry, "GET", "/contacts", "error") == 1


# -- the backlog -----------------------------------------------------------------------------


def depth(registry: CollectorRegistry, queue: str, role: str) -> float | None:
    return registry.get_sample_value("signdeal_queue_messages", {"queue": queue, "role": role})


def oldest_age(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("signdeal_oldest_unprocessed_event_age_seconds")


async def put(channel: AbstractChannel, queue: str, count: int) -> None:
    for _ in range(count):
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=queue)


async def test_backlog_probe_reads_fresh_depths_and_the_oldest_waiting_event(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
) -> None:
    probe = BacklogProbe(topology, sqlite_store, observer, lambda: amqp_connection)
    await put(channel, topology.dead_queue, 2)
    await put(channel, topology.retry_queue(4), 1)
    await sqlite_store.begin_attempt(
        minimal_event("waiting", received_at=datetime.now(UTC) - timedelta(hours=1))
    )
    try:
        await probe.measure()
        assert depth(registry, topology.dead_queue, "parking_lot") == 2
        assert depth(registry, topology.retry_queue(4), "retry") == 1
        assert depth(registry, topology.retry_queue(1), "retry") == 0
        assert depth(registry, topology.work_queue, "work") == 0
        assert 3600 <= (oldest_age(registry) or 0) < 3700

        # A robust channel would answer the second passive declaration from its cache.
        await put(channel, topology.dead_queue, 1)
        await sqlite_store.finish_event("waiting", status=EventStatus.DONE)
        await probe.measure()
        assert depth(registry, topology.dead_queue, "parking_lot") == 3
        assert oldest_age(registry) == 0
    finally:
        await probe.close()


async def test_backlog_without_a_broker_shows_no_depths(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
) -> None:
    connected: list[AbstractRobustConnection | None] = [amqp_connection]
    probe = BacklogProbe(topology, sqlite_store, observer, lambda: connected[0])
    await probe.measure()
    assert depth(registry, topology.dead_queue, "parking_lot") == 0

    connected[0] = None
    await probe.measure()

    assert depth(registry, topology.dead_queue, "parking_lot") is None
    await probe.close()


async def test_backlog_survives_a_missing_queue(
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    sqlite_store: Store,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
    channel: AbstractChannel,
) -> None:
    missing = dataclasses.replace(topology, retry_delays_seconds=(1, 2, 4, 999))
    probe = BacklogProbe(missing, sqlite_store, observer, lambda: amqp_connection)
    await probe.measure()
    assert depth(registry, topology.work_queue, "work") is None

    probe.topology = topology
    await probe.measure()

    assert depth(registry, topology.work_queue, "work") == 0
    await probe.close()


async def test_backlog_with_the_store_down_shows_an_unknown_age(
    tmp_path: Path,
    topology: Topology,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
) -> None:
    closed = open_store(f"sqlite:///{tmp_path}/closed.db")
    probe = BacklogProbe(topology, closed, observer, lambda: None)

    await probe.measure()

    age = oldest_age(registry)
    assert age is not None
    assert math.isnan(age)


def stuck(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("signdeal_events_stuck_processing")


async def test_backlog_probe_counts_attempts_nobody_finished(
    topology: Topology,
    sqlite_store: Store,
    observer: PrometheusCrmWriterObserver,
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = BacklogProbe(topology, sqlite_store, observer, lambda: None)
    await sqlite_store.begin_attempt(minimal_event("abandoned"))
    await probe.measure()
    assert stuck(registry) == 0  # just begun: not stuck yet

    monkeypatch.setattr(backlog, "STUCK_AFTER_SECONDS", -60)  # as if the bound had passed
    await probe.measure()
    assert stuck(registry) == 1

    await sqlite_store.finish_event("abandoned", status=EventStatus.DONE)
    await probe.measure()
    assert stuck(registry) == 0
