"""RD Station misbehaving: errors, timeouts and 429s for a while, a rejected deal, a tight limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from structlog.testing import capture_logs

from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient
from services.crm_writer.rdstation import client as rd_client_module
from services.crm_writer.replay import replay_parked
from services.crm_writer.store import EventStatus, Store
from services.crm_writer.templates import TitleTemplate
from shared.messages import PARKED_REASON_HEADER
from shared.topology import Topology
from tests.clicksign_events import sign_events
from tests.consumer_harness import (
    ConsumerFactory,
    all_reach,
    publish_event,
    read_parked,
    wait_for_parked,
)
from tests.faults.conftest import Figures
from tests.faults.effects import tally_effects

REJECTION = "Já existe uma negociação com este nome neste funil"
# The sandbox's budget for the burst, and the client's limit scaled to a minute the same way:
# 60 requests per rolling 6 s is 600 per minute (RD's own window is 60 s: 120 per 60 s would make
# the same test take ten times longer).
BURST_LIMIT, BURST_WINDOW_SECONDS = 60, 6.0
BURST_PER_MINUTE = round(BURST_LIMIT * 60 / BURST_WINDOW_SECONDS)


def injected_faults(rd: SandboxServer) -> int:
    return sum(1 for record in rd.requests.records if record.fault is not None)


async def test_rd_errors_timeouts_and_429s_for_a_while_then_recovery(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    """The first ~30 requests fail in every way RD fails; some failures happen after RD made
    the change (the duplicate-making case). Everything recovers through the retry tiers."""
    faults = rd.faults
    faults.fail_next(2, 500, method="POST", path_prefix="/deals", completes=True)
    faults.hang_next(1, 2.5, method="POST", path_prefix="/contacts", completes=True)
    faults.fail_next(8, 500)  # RD's HTML error page
    faults.fail_next(6, 429, retry_after_seconds=1)
    faults.hang_next(3, 2.5)  # longer than the client's 1 s timeout
    for status, count in ((502, 3), (503, 3), (504, 2)):
        faults.fail_next(count, status)
    events = sign_events(20, "rdfaults")

    await consumers.start(amqp_connection, sqlite_store, prefetch=8)
    for event in events:
        await publish_event(channel, topology, event)

    records = await all_reach(sqlite_store, [event.event_id for event in events], timeout=90)
    tally = await tally_effects(sqlite_store, rd.state, events)
    injected = injected_faults(rd)
    figures.record(
        faults_injected=injected,
        events_sent=len(events),
        tally=tally,
        retried_events=sum(1 for record in records if record.attempts > 1),
    )

    assert faults.rules == []  # every armed fault was served
    assert injected == 28
    assert tally.clean, tally.problems
    statuses = {call["status"] for record in records for call in record.rd_calls}
    assert {500, 502, 503, 504, 429} <= statuses
    errors = [str(call["error"]) for record in records for call in record.rd_calls]
    assert any("no answer within" in error for error in errors)  # the client's timeouts


async def test_a_429_waits_for_retry_after_in_place_without_a_retry_tier(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    rd.faults.fail_next(1, 429, method="POST", path_prefix="/deals", retry_after_seconds=3)
    [event] = sign_events(1, "retryafter")
    await consumers.start(amqp_connection, sqlite_store)

    with capture_logs() as logs:
        started = time.monotonic()
        await publish_event(channel, topology, event)
        [record] = await all_reach(sqlite_store, [event.event_id])
        elapsed = time.monotonic() - started
    tally = await tally_effects(sqlite_store, rd.state, [event])
    figures.record(faults_injected=1, events_sent=1, tally=tally, seconds_to_done=elapsed)

    assert not [line for line in logs if line["event"] == "event.retry_scheduled"]
    [waited] = [line for line in logs if line["event"] == "rd.rate_limited"]
    assert waited["pause_seconds"] == 3
    assert elapsed >= 3  # Retry-After is honoured
    assert record.attempts == 1
    assert [call["status"] for call in record.rd_calls if call["path"] == "/deals"] == [429, 200]
    assert tally.clean, tally.problems


async def test_429s_after_a_few_errors_do_not_push_the_event_into_long_tiers(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three 500s, then RD's budget stays spent past the client's patience twice: the event must
    # wait in the first tier, not climb to the fourth and fifth (an hour in production).
    monkeypatch.setattr(rd_client_module, "RATE_LIMIT_PATIENCE_SECONDS", 1.5)
    rd.faults.fail_next(3, 500, method="POST", path_prefix="/deals")
    rd.faults.fail_next(4, 429, method="POST", path_prefix="/deals", retry_after_seconds=1)
    [event] = sign_events(1, "429tiers")
    await consumers.start(amqp_connection, sqlite_store)

    with capture_logs() as logs:
        await publish_event(channel, topology, event)
        await all_reach(sqlite_store, [event.event_id], timeout=60)
    tally = await tally_effects(sqlite_store, rd.state, [event])
    figures.record(faults_injected=7, events_sent=1, tally=tally)

    delays = [line["delay_seconds"] for line in logs if line["event"] == "event.retry_scheduled"]
    # Tiers here are 1, 2 and 4 s: the 500s climb them, each 429 goes back to the first.
    assert delays == [1, 2, 4, 1, 1]
    assert rd.faults.rules == []
    assert tally.clean, tally.problems


async def test_rejected_deals_are_parked_with_rds_message_and_replayed_after_the_fix(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    rd.faults.reject_deal_creation(REJECTION, field="name")
    events = sign_events(8, "rejected")
    await consumers.start(amqp_connection, sqlite_store)
    for event in events:
        await publish_event(channel, topology, event)

    parked_records = await all_reach(sqlite_store, [e.event_id for e in events], EventStatus.PARKED)
    parked = await wait_for_parked(amqp_connection, topology, len(events))
    rejected_posts = len(rd.requests.matching("POST", "/api/v1/deals"))
    rd.faults.clear_deal_rejection()  # the operator fixes the funnel
    report = await replay_parked(amqp_connection, topology, all_parked=True)
    await all_reach(sqlite_store, [event.event_id for event in events])
    tally = await tally_effects(sqlite_store, rd.state, events)
    figures.record(faults_injected=rejected_posts, events_sent=len(events), tally=tally)

    assert rejected_posts == len(events)  # parked at once: no retry of a 422
    assert all(REJECTION in (record.error or "") for record in parked_records)
    assert all(REJECTION in str(message.headers[PARKED_REASON_HEADER]) for message in parked)
    assert len(report.replayed) == len(events)
    assert await read_parked(amqp_connection, topology) == []
    assert tally.clean, tally.problems


@pytest_asyncio.fixture
async def burst_limited_rd() -> AsyncIterator[SandboxServer]:
    config = SandboxConfig(
        rate_limit=BURST_LIMIT,
        rate_limit_window_seconds=BURST_WINDOW_SECONDS,
        retry_after_header=True,
        access_log=False,
    )
    async with SandboxServer(config) as server:
        yield server


async def test_a_burst_drains_at_the_rate_limit_with_no_429(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    burst_limited_rd: SandboxServer,
    http_session: aiohttp.ClientSession,
    figures: Figures,
) -> None:
    limiter = RdRateLimiter(BURST_PER_MINUTE)
    client = RdStationClient(
        http_session, burst_limited_rd.url, burst_limited_rd.token, limiter, 2.0
    )
    settings = DealSettings(
        stage_id=burst_limited_rd.state.stage_id("Em assinatura"),
        title=TitleTemplate("{document.filename} - {signer.name}"),
    )
    factory = ConsumerFactory(topology, client, settings)
    events = sign_events(60, "burst")
    try:
        await factory.start(amqp_connection, sqlite_store, prefetch=16)
        started = time.monotonic()
        for event in events:
            await publish_event(channel, topology, event)
        await all_reach(sqlite_store, [event.event_id for event in events], timeout=90)
        seconds = time.monotonic() - started
    finally:
        await factory.stop_all()
    requests = burst_limited_rd.requests.records
    refused = [record for record in requests if record.status == 429]
    tally = await tally_effects(sqlite_store, burst_limited_rd.state, events)
    figures.record(
        faults_injected=0,
        events_sent=len(events),
        tally=tally,
        rd_requests=len(requests),
        rd_429s=len(refused),
        drain_seconds=round(seconds, 1),
        requests_per_second=round(len(requests) / seconds, 2),
        sandbox_limit=f"{BURST_LIMIT} per {BURST_WINDOW_SECONDS:g} s",
    )

    assert refused == []
    assert tally.clean, tally.problems
