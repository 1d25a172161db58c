"""Three crm_writer processes on one PostgreSQL store drain a burst into an RD sandbox that
enforces the limit: the budget they share keeps them under it, with nothing set per replica."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest_asyncio
from aio_pika.abc import AbstractChannel

from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.store import Store, open_store
from shared.topology import Topology
from tests.clicksign_events import sign_events
from tests.consumer_harness import all_reach, publish_event
from tests.faults.conftest import Figures
from tests.faults.effects import tally_effects
from tests.service_processes import ProcessGroup, ServiceProcess, crm_writer_env, free_port

# RD's 120 per 60 s scaled the way the burst test of test_rd_faults does it: 60 per rolling 12 s
# in the sandbox is 300 a minute, and every replica is told the token's whole 300. (The 2% margin
# is then 0.24 s of lateness per window, room enough for a busy CI machine.)
LIMIT, WINDOW_SECONDS = 60, 12.0
PER_MINUTE = round(LIMIT * 60 / WINDOW_SECONDS)
REPLICAS = 3


@pytest_asyncio.fixture
async def shared_limit_rd() -> AsyncIterator[SandboxServer]:
    config = SandboxConfig(
        rate_limit=LIMIT,
        rate_limit_window_seconds=WINDOW_SECONDS,
        retry_after_header=True,
        access_log=False,
    )
    async with SandboxServer(config) as server:
        yield server


@pytest_asyncio.fixture
async def shared_store(postgres_store_url: str) -> AsyncIterator[Store]:
    store = open_store(postgres_store_url)
    await store.open()
    yield store
    await store.close()


async def test_three_replicas_on_one_store_drain_a_burst_with_no_429(
    amqp_url: str,
    service_topology: Topology,
    unchecked_processes: ProcessGroup,
    publisher: AbstractChannel,
    postgres_store_url: str,
    shared_store: Store,
    shared_limit_rd: SandboxServer,
    figures: Figures,
) -> None:
    """Identical environments, including a ``CRM_WRITER_REPLICAS=1`` left over from the old
    configuration (which used to give each replica the whole budget): it is ignored."""

    async def start_writer() -> ServiceProcess:
        port = free_port()
        env = crm_writer_env(
            amqp_url=amqp_url,
            topology=service_topology,
            port=port,
            store_url=postgres_store_url,
            rd_url=shared_limit_rd.url,
            RDSTATION_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE),
            CRM_WRITER_PREFETCH="8",
            CRM_WRITER_REPLICAS="1",
        )
        return await unchecked_processes.start("crm_writer", "services.crm_writer", env, port)

    writers = [await start_writer() for _ in range(REPLICAS)]
    for writer in writers:
        await writer.wait_until_ready()
    events = sign_events(30, "sharedbudget")
    started = time.monotonic()
    for event in events:
        await publish_event(publisher, service_topology, event)
    await all_reach(shared_store, [event.event_id for event in events], timeout=120)
    seconds = time.monotonic() - started

    requests = shared_limit_rd.requests.records
    refused = [record for record in requests if record.status == 429]
    tally = await tally_effects(shared_store, shared_limit_rd.state, events)
    processed = [writer.events().count("event.processed") for writer in writers]
    figures.record(
        faults_injected=0,
        events_sent=len(events),
        tally=tally,
        replicas=REPLICAS,
        rd_requests=len(requests),
        rd_429s=len(refused),
        drain_seconds=round(seconds, 1),
        processed_per_replica=processed,
        sandbox_limit=f"{LIMIT} per {WINDOW_SECONDS:g} s",
    )

    assert refused == []
    assert tally.clean, tally.problems
    assert all(processed), f"every replica took part: {processed}"
    for writer in writers:
        assert writer.events().count("config.deprecated") == 1
        budget = await writer.wait_for_log("rd.rate_limit")
        assert budget["budget"] == "shared"
