"""The services as real processes, stopped under load: crm_writer SIGKILLed and restarted,
ingest SIGTERMed while webhooks keep arriving."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.store import EventStatus, Store, open_store
from shared.topology import Topology
from tests.clicksign_events import sign_events
from tests.consumer_harness import ConsumerFactory, all_reach, publish_event, until
from tests.faults.conftest import Figures
from tests.faults.effects import tally_effects
from tests.faults.webhooks import (
    ACCEPTED,
    NO_ANSWER,
    duplicates_recorded,
    make_webhooks,
    resend_until_accepted,
    send_burst,
)
from tests.service_processes import (
    ProcessGroup,
    ServiceProcess,
    crm_writer_env,
    free_port,
    start_ingest,
)

# Room for a lock left by the killed process to be taken over (at once on one host; after the
# lease's 30 s TTL elsewhere).
ALL_DONE_SECONDS = 90.0


@pytest.fixture(params=["sqlite", "postgres"])
def writer_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/crm_writer.db"
    url: str = request.getfixturevalue("postgres_store_url")
    return url


async def done_count(store: Store, ids: list[str]) -> int:
    records = [await store.get_event(event_id) for event_id in ids]
    return sum(1 for record in records if record and record.status is EventStatus.DONE)


def done_at_least(store: Store, ids: list[str], count: int) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        return await done_count(store, ids) >= count

    return reached


@pytest_asyncio.fixture
async def opened_store(writer_store_url: str) -> AsyncIterator[Store]:
    store = open_store(writer_store_url)
    await store.open()
    yield store
    await store.close()


async def test_crm_writer_sigkilled_mid_burst_then_restarted_does_each_event_once(
    amqp_url: str,
    service_topology: Topology,
    unchecked_processes: ProcessGroup,
    publisher: AbstractChannel,
    writer_store_url: str,
    opened_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    rd.faults.set_latency(15)  # a few events are always half-way when the kill comes

    async def start_writer() -> ServiceProcess:
        port = free_port()
        env = crm_writer_env(
            amqp_url=amqp_url,
            topology=service_topology,
            port=port,
            store_url=writer_store_url,
            rd_url=rd.url,
            CRM_WRITER_PREFETCH="8",
        )
        writer = await unchecked_processes.start("crm_writer", "services.crm_writer", env, port)
        await writer.wait_until_ready()
        return writer

    first = await start_writer()
    events = sign_events(50, "sigkill")
    ids = [event.event_id for event in events]
    for event in [*events, *events[:10]]:  # ten webhooks Clicksign delivered twice
        await publish_event(publisher, service_topology, event)

    await until(done_at_least(opened_store, ids, 12), "12 events done before the kill")
    await first.kill()
    done_at_kill = await done_count(opened_store, ids)
    second = await start_writer()
    await all_reach(opened_store, ids, timeout=ALL_DONE_SECONDS)
    tally = await tally_effects(opened_store, rd.state, events)
    figures.record(
        faults_injected=1,
        events_sent=len(events) + 10,
        tally=tally,
        store=writer_store_url.split(":", 1)[0],
        done_at_kill=done_at_kill,
        second_life=second.events().count("event.processed"),
        second_life_recovered=second.events().count("deal.recovered"),
    )

    assert first.returncode == -signal.SIGKILL
    assert second.returncode is None  # still serving
    assert tally.clean, tally.problems


async def test_ingest_sigtermed_mid_burst_loses_nothing_it_accepted(
    amqp_url: str,
    amqp_connection: AbstractRobustConnection,
    service_topology: Topology,
    unchecked_processes: ProcessGroup,
    sqlite_store: Store,
    rd: SandboxServer,
    impatient_rd_client: RdStationClient,
    deal_settings: DealSettings,
    figures: Figures,
) -> None:
    """SIGTERM after 20 of 80 webhooks were answered: what was answered 202 before the stop is
    in the queue; the rest get no answer (or 503) and Clicksign sends them to the next ingest."""
    ingest = await start_ingest(unchecked_processes, amqp_url, service_topology)
    await ingest.wait_until_ready()
    webhooks = make_webhooks(80, "sigterm")

    def stop_after_20(answered: int) -> None:
        if answered == 20:
            ingest.process.send_signal(signal.SIGTERM)

    await send_burst(ingest.base_url, webhooks, concurrency=8, after_each=stop_after_20)
    exit_code = await ingest.wait_for_exit()
    first_answers = [webhook.answers[0] for webhook in webhooks]
    accepted_by_the_first = [webhook.event for webhook in webhooks if webhook.accepted]

    successor = await start_ingest(unchecked_processes, amqp_url, service_topology)
    await successor.wait_until_ready()
    retries = await resend_until_accepted(successor.base_url, webhooks)
    factory = ConsumerFactory(service_topology, impatient_rd_client, deal_settings)
    try:
        await factory.start(amqp_connection, sqlite_store, prefetch=16)
        await all_reach(sqlite_store, [webhook.event.event_id for webhook in webhooks], timeout=60)
    finally:
        await factory.stop_all()
    tally = await tally_effects(sqlite_store, rd.state, [webhook.event for webhook in webhooks])
    first_tally = await tally_effects(sqlite_store, rd.state, accepted_by_the_first)
    figures.record(
        faults_injected=1,
        events_sent=len(webhooks),
        tally=tally,
        first_pass_202=first_answers.count(ACCEPTED),
        first_pass_no_answer=first_answers.count(NO_ANSWER),
        first_pass_503=first_answers.count(503),
        clicksign_retries=retries,
        duplicate_messages=await duplicates_recorded(sqlite_store, webhooks),
    )

    assert exit_code == 0
    assert set(first_answers) <= {ACCEPTED, 503, NO_ANSWER}
    assert first_answers.count(ACCEPTED) >= 20
    assert first_answers.count(ACCEPTED) < len(webhooks)  # the stop was felt
    # Every event the stopped ingest answered 202 for took effect once.
    assert first_tally.exactly_once == len(accepted_by_the_first), first_tally.problems
    assert tally.clean, tally.problems
