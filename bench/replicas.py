"""Benchmark: crm_writer replicas on one PostgreSQL store sharing RD's limit (issue 16).

The same backlog drains twice into an RD sandbox that enforces the limit scaled xk (120 per
60/k s, as `bench.drain` does): once with one crm_writer, once with ``replicas`` of them, every
one configured alike (the token's whole budget, ``RDSTATION_RATE_LIMIT_PER_MINUTE`` = 120·k, no
replica count). The replicas draw from the budget the store keeps, so together they should use
as much of the limit as one replica does, with no 429. Each run gets its own database on
``BENCH_POSTGRES_URL``'s server, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.common import (
    Service,
    crm_writer_env,
    drop_topology,
    free_port,
    log,
    new_topology,
    postgres_database,
    publish_backlog,
    services,
)
from bench.drain import (
    RD_LIMIT,
    RD_WINDOW_SECONDS,
    REQUESTS_PER_NEW_EVENT,
    TERMINAL,
    rate_use,
    start_sandbox,
)


@dataclass(frozen=True)
class ReplicaOptions:
    events: int = 300
    scale: int = 10
    replicas: int = 3
    prefetch: int = 8
    # At least this long; a run gets half as long again as the limit allows for.
    timeout_seconds: float = 300.0


async def run(options: ReplicaOptions) -> dict[str, Any]:
    """The backlog with one replica, then with ``options.replicas``."""
    one = await _drain(options, 1)
    many = await _drain(options, options.replicas)
    return {
        "scale": options.scale,
        "sandbox_limit": f"{RD_LIMIT} per {RD_WINDOW_SECONDS / options.scale:g} s",
        "client_limit_per_minute": RD_LIMIT * options.scale,
        "events": options.events,
        "one_replica": one,
        "replicas": many,
    }


async def _drain(options: ReplicaOptions, replicas: int) -> dict[str, Any]:
    window = RD_WINDOW_SECONDS / options.scale
    topology = new_topology(f"replicas{replicas}")
    try:
        async with postgres_database(f"r{replicas}") as store_url, services() as group:
            sandbox = await start_sandbox(group, limit=RD_LIMIT, window=window)
            seconds = await publish_backlog(topology, options.events, uuid.uuid4().hex)
            log(f"replicas: {options.events} events published in {seconds:.1f} s")
            mark = len(sandbox.service.all_lines)
            writers = []
            for _ in range(replicas):
                port = free_port()
                env = crm_writer_env(
                    topology,
                    port,
                    store_url=store_url,
                    rd_url=sandbox.api_url,
                    rate_limit_per_minute=RD_LIMIT * options.scale,
                    prefetch=options.prefetch,
                )
                writers.append(
                    await group.start(
                        "crm_writer", ["-m", "services.crm_writer"], env, port, keep_output=True
                    )
                )
            log(f"replicas: {replicas} x crm_writer on PostgreSQL, RD limit {RD_LIMIT}/{window:g}s")
            limit = max(
                options.timeout_seconds,
                1.5 * options.events * REQUESTS_PER_NEW_EVENT / (RD_LIMIT / window) + 60,
            )
            started = writers[0].started_at
            statuses = await _wait_drained(writers, store_url, options.events, limit)
            drain_seconds = time.monotonic() - started
            requests = sandbox.requests_since(mark)
            processed = [_count(writer, '"event.processed"') for writer in writers]
    finally:
        await drop_topology(topology)
    use = rate_use(requests, RD_LIMIT / window)
    log(
        f"replicas: {replicas}: {use['limit_share']:.1%} of the limit, "
        f"{use['rd_429']} x 429, {drain_seconds:.1f} s, events per replica {processed}"
    )
    return {
        "replicas": replicas,
        "drain_seconds": round(drain_seconds, 2),
        "drain_measured_from": "first process start (start-ups included)",
        "statuses": statuses,
        "processed_per_replica": processed,
        **use,
    }


async def _wait_drained(
    writers: list[Service], store_url: str, events: int, limit: float
) -> dict[str, int]:
    deadline = time.monotonic() + limit
    while True:
        counts = await _statuses(store_url)
        if sum(counts[status] for status in TERMINAL) >= events:
            return dict(counts)
        for writer in writers:
            if writer.process.returncode is not None:
                raise RuntimeError("crm_writer exited:\n" + "\n".join(list(writer.lines)[-20:]))
        if time.monotonic() > deadline:
            raise TimeoutError(f"backlog not drained in {limit:g}s: {dict(counts)}")
        await asyncio.sleep(0.25)


async def _statuses(store_url: str) -> Counter[str]:
    """Events per status in the store; empty until crm_writer created its tables."""
    connection = await asyncpg.connect(store_url)
    try:
        rows = await connection.fetch("SELECT status, count(*) AS n FROM events GROUP BY status")
    except asyncpg.UndefinedTableError:
        return Counter()
    finally:
        await connection.close()
    return Counter({str(row["status"]): int(row["n"]) for row in rows})


def _count(writer: Service, needle: str) -> int:
    return sum(1 for line in writer.all_lines if needle in line)
