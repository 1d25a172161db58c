"""``signdeal check`` against what signdeal runs on: the broker, its topology, the store."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractConnection
from aiormq.exceptions import ChannelNotFoundEntity

from services.crm_writer.backlog import STUCK_AFTER_SECONDS, stuck_since
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import StoreError, open_store
from services.crm_writer.store.open_errors import describe_store_failure
from services.crm_writer.store.sqlite import sqlite_path
from shared.connection_errors import describe_broker_failure
from shared.logging import redact_text
from shared.topology import Topology
from signdeal_cli.environment import display_url
from signdeal_cli.verdicts import Verdict

CONNECT_TIMEOUT_SECONDS = 10.0


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:g}s"
    return redact_text(str(exc) or type(exc).__name__)


async def check_broker(settings: CrmWriterSettings) -> list[Verdict]:
    """Can we connect, and has crm_writer declared its queues there?"""
    where = display_url(settings.amqp_url)
    try:
        connection = await asyncio.wait_for(
            aio_pika.connect(settings.amqp_url, timeout=CONNECT_TIMEOUT_SECONDS),
            CONNECT_TIMEOUT_SECONDS,
        )
    except Exception as exc:
        return [
            Verdict.fail("broker", describe_broker_failure(settings.amqp_url, exc)),
            Verdict.skip("AMQP topology", "needs the broker"),
        ]
    async with connection:
        topology = await check_topology(connection, settings.topology())
    return [Verdict.ok("broker", f"connected to {where}"), topology]


async def check_topology(connection: AbstractConnection, topology: Topology) -> Verdict:
    name = "AMQP topology"
    work = await _queue_counts(connection, topology.work_queue)
    if work is None:
        return Verdict.warn(
            name,
            f"queue {topology.work_queue} is not declared yet: crm_writer declares it when it "
            "starts; until then ingest answers webhooks with 503",
        )
    waiting, consumers = work
    dead = await _queue_counts(connection, topology.dead_queue)
    parked = f"; parking lot: {dead[0]} parked" if dead is not None else ""
    detail = f"{topology.work_queue} declared: {waiting} waiting, {consumers} consumer(s){parked}"
    if consumers == 0:
        return Verdict.warn(name, f"{detail} — no crm_writer is consuming")
    return Verdict.ok(name, detail)


async def _queue_counts(connection: AbstractConnection, queue: str) -> tuple[int, int] | None:
    """(messages ready, consumers) of an existing queue; None if it does not exist."""
    # A passive declare of a missing queue closes its channel, so each gets its own.
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
    except ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()
    result = declared.declaration_result
    return int(result.message_count or 0), int(result.consumer_count or 0)


async def check_store(settings: CrmWriterSettings) -> Verdict:
    where = display_url(settings.store_url)
    if settings.store_url.startswith("sqlite:"):
        missing = _missing_sqlite_file(settings.store_url)
        if missing is not None:
            return missing
    store = open_store(settings.store_url)
    try:
        await asyncio.wait_for(store.open(), CONNECT_TIMEOUT_SECONDS)
        await asyncio.wait_for(store.ping(), CONNECT_TIMEOUT_SECONDS)
        stuck, oldest = await store.stuck_processing(stuck_since(datetime.now(UTC)))
    except (StoreError, TimeoutError) as exc:
        return Verdict.fail("store", describe_store_failure(settings.store_url, exc))
    except Exception as exc:
        return Verdict.fail("store", f"{where} does not answer: {describe_failure(exc)}")
    finally:
        await store.close()
    if stuck:
        since = oldest.isoformat(timespec="seconds") if oldest else "?"
        return Verdict.warn(
            "store",
            f"{where} answers; {stuck} event(s) stuck in 'processing' for over "
            f"{STUCK_AFTER_SECONDS // 60} min (oldest attempt {since}): nobody finished them — "
            "see `signdeal history --status processing` and crm_writer's log for their event ids",
        )
    return Verdict.ok("store", f"{where} answers")


def _missing_sqlite_file(url: str) -> Verdict | None:
    """A SQLite file crm_writer has not created yet: fine if it could create it."""
    try:
        path = sqlite_path(url)
    except ValueError as exc:
        return Verdict.fail("store", str(exc))
    if path.exists():
        return None
    folder = _nearest_existing(path.parent)
    if not os.access(folder, os.W_OK):
        return Verdict.fail("store", f"{path} does not exist and {folder} is not writable")
    return Verdict.ok("store", f"{path} does not exist yet: crm_writer creates it when it starts")


def _nearest_existing(folder: Path) -> Path:
    absolute = folder.absolute()
    while not absolute.exists() and absolute != absolute.parent:
        absolute = absolute.parent
    return absolute
