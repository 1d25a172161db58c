"""Benchmark 2: crm_writer draining a backlog into the RD sandbox, plus its memory and profile.

Limited: RD's 120 requests per 60 s scaled xk by shrinking the sandbox's window to 60/k s and
raising the client's ``RDSTATION_RATE_LIMIT_PER_MINUTE`` to 120·k. The backlog (distinct documents,
two new signers each) is published before crm_writer starts; we time the drain, count the RD
requests and 429s in the sandbox's access log and compare the request rate with the limit.

Ceiling: the sandbox's limit off, 50 ms latency on every RD call, the client's limit out of the way;
events/s for a few ``CRM_WRITER_PREFETCH`` values, crm_writer's RSS idle and after the backlog.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import profiling
from bench.common import (
    HOST,
    RESULTS_DIR,
    Service,
    Services,
    crm_writer_env,
    drop_topology,
    free_port,
    log,
    new_topology,
    publish_backlog,
    service_env,
    services,
)

RD_LIMIT = 120
RD_WINDOW_SECONDS = 60.0
TERMINAL = ("done", "parked", "failed")
# A `sign` on a new document with new signers: create the deal, find the contact, create it.
REQUESTS_PER_NEW_EVENT = 3
UNLIMITED_PER_MINUTE = 6_000_000


@dataclass(frozen=True)
class DrainOptions:
    events: int = 600
    scale: int = 10
    ceiling_events: int = 2000
    prefetches: tuple[int, ...] = (8, 32, 64)
    latency_ms: int = 50
    profile_seconds: float = 8.0
    # At least this long; the limited drain gets half as long again as the limit allows for.
    timeout_seconds: float = 600.0


@dataclass
class Sandbox:
    service: Service
    port: int

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api/v1"

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.port}/__sandbox"

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.control_url + path, json=body) as response,
        ):
            response.raise_for_status()
            return await response.json()

    def requests_since(self, line_count: int) -> list[dict[str, Any]]:
        """The ``rd_sandbox.request`` access-log lines printed after the first ``line_count``."""
        found = []
        for text in self.service.all_lines[line_count:]:
            if '"rd_sandbox.request"' in text:
                found.append(orjson.loads(text))
        return found


async def start_sandbox(group: Services, *, limit: int, window: float) -> Sandbox:
    port = free_port()
    service = await group.start(
        "rd-sandbox",
        [
            "-m",
            "sandbox.rdstation",
            "--host",
            HOST,
            "--port",
            str(port),
            "--rate-limit",
            str(limit),
            "--rate-window",
            f"{window:g}",
            # Its line per request is what the limit's use is measured from (debug otherwise).
            "--log-requests",
        ],
        service_env(),
        port,
        keep_output=True,
    )
    await service.wait_ready("/__sandbox/faults")
    return Sandbox(service, port)


def _settled(store: Path) -> Counter[str]:
    """Events per status in crm_writer's SQLite store (read-only; WAL lets us read alongside)."""
    if not store.exists():
        return Counter()
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as db:
            rows = db.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall()
    except sqlite3.OperationalError:  # not created yet, or busy
        return Counter()
    return Counter({str(status): int(count) for status, count in rows})


@dataclass
class DrainRun:
    """One crm_writer over one backlog: timings, statuses, RSS samples."""

    events: int
    prefetch: int
    startup_seconds: float = 0.0
    drain_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    rss_idle_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "prefetch": self.prefetch,
            "startup_to_ready_seconds": round(self.startup_seconds, 3),
            "drain_seconds": round(self.drain_seconds, 2),
            "events_per_second": round(self.events / self.drain_seconds, 1),
            "statuses": self.statuses,
            "rss_idle_mb": round(self.rss_idle_mb, 1),
            "rss_peak_mb": round(self.rss_peak_mb, 1),
            "rss_end_mb": round(self.rss_end_mb, 1),
        }


async def _wait_drained(
    writer: Service, store: Path, run: DrainRun, limit: float, started: float
) -> None:
    deadline = started + limit
    while True:
        counts = _settled(store)
        run.rss_peak_mb = max(run.rss_peak_mb, writer.rss_mb())
        if sum(counts[status] for status in TERMINAL) >= run.events:
            run.drain_seconds = time.monotonic() - started
            run.statuses = dict(counts)
            return
        if writer.process.returncode is not None:
            raise RuntimeError("crm_writer exited:\n" + "\n".join(list(writer.lines)[-20:]))
        if time.monotonic() > deadline:
            raise TimeoutError(f"backlog not drained in {limit:g}s: {dict(counts)}")
        await asyncio.sleep(0.1)


async def limited(options: DrainOptions) -> dict[str, Any]:
    """The backlog against RD's limit scaled x``scale``."""
    window = RD_WINDOW_SECONDS / options.scale
    per_minute = RD_LIMIT * options.scale
    topology = new_topology("drain")
    run_name = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="signdeal-bench-") as folder:
        store = Path(folder) / "signdeal.db"
        try:
            async with services() as group:
                sandbox = await start_sandbox(group, limit=RD_LIMIT, window=window)
                seconds = await publish_backlog(topology, options.events, run_name)
                log(f"drain: {options.events} events published in {seconds:.1f} s")
                mark = len(sandbox.service.all_lines)
                port = free_port()
                env = crm_writer_env(
                    topology,
                    port,
                    store_url=f"sqlite:///{store}",
                    rd_url=sandbox.api_url,
                    rate_limit_per_minute=per_minute,
                    prefetch=8,
                )
                writer = await group.start("crm_writer", ["-m", "services.crm_writer"], env, port)
                run = DrainRun(options.events, 8)
                ready = asyncio.create_task(writer.wait_ready())
                log(f"drain: RD limit {RD_LIMIT}/{window:g}s (x{options.scale}), draining")
                limit = max(
                    options.timeout_seconds,
                    1.5 * options.events * REQUESTS_PER_NEW_EVENT / (RD_LIMIT / window) + 60,
                )
                await _wait_drained(writer, store, run, limit, writer.started_at)
                run.startup_seconds = await ready
                run.rss_end_mb = writer.rss_mb()
                requests = sandbox.requests_since(mark)
        finally:
            await drop_topology(topology)
    figures = run.as_json()
    del figures["rss_idle_mb"]  # the backlog is there before the process: never idle
    return {
        "scale": options.scale,
        "sandbox_limit": f"{RD_LIMIT} per {window:g} s",
        "client_limit_per_minute": per_minute,
        **figures,
        **rate_use(requests, RD_LIMIT / window),
        "rd_requests_per_event": round(len(requests) / options.events, 2),
        "drain_measured_from": "process start (start-up included)",
    }


def rate_use(requests: list[dict[str, Any]], limit_per_second: float) -> dict[str, Any]:
    """RD requests, 429s and the share of the limit used, from the sandbox's access log."""
    statuses = Counter(str(line.get("status")) for line in requests)
    times = sorted(datetime.fromisoformat(str(line["timestamp"])).timestamp() for line in requests)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    # The busiest stretch of one window, as RD counts it.
    window = RD_LIMIT / limit_per_second
    busiest, left = 0, 0
    for right, moment in enumerate(times):
        while times[left] <= moment - window:
            left += 1
        busiest = max(busiest, right - left + 1)
    return {
        "rd_requests": len(requests),
        "rd_statuses": dict(statuses),
        "rd_429": statuses.get("429", 0),
        "rd_requests_per_second": round(rate, 2),
        "limit_per_second": round(limit_per_second, 2),
        "limit_share": round(rate / limit_per_second, 3) if limit_per_second else None,
        "busiest_window_requests": busiest,
    }


async def ceiling(options: DrainOptions) -> dict[str, Any]:
    """Limit lifted, RD latency ``latency_ms``: events/s per prefetch, RSS, one profile."""
    runs: list[dict[str, Any]] = []
    profile: dict[str, Any] = {}
    async with services() as group:
        sandbox = await start_sandbox(group, limit=0, window=RD_WINDOW_SECONDS)
        await sandbox.control("PUT", "/faults/latency", {"ms": options.latency_ms})
        for prefetch in options.prefetches:
            result = await _ceiling_run(group, sandbox, options, prefetch, options.ceiling_events)
            runs.append(result)
            log(
                f"ceiling: prefetch {prefetch}: {result['events_per_second']} events/s, "
                f"RSS {result['rss_idle_mb']} -> {result['rss_end_mb']} MB"
            )
        if options.profile_seconds > 0:
            best = max(runs, key=lambda r: r["events_per_second"])["prefetch"]
            profile = await _ceiling_run(
                group, sandbox, options, best, options.ceiling_events, profile=True
            )
    return {"latency_ms": options.latency_ms, "runs": runs, "profile": profile}


async def _ceiling_run(
    group: Services,
    sandbox: Sandbox,
    options: DrainOptions,
    prefetch: int,
    events: int,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    topology = new_topology(f"ceiling{prefetch}")
    run_name = uuid.uuid4().hex
    await sandbox.control("POST", "/reset")
    await sandbox.control("PUT", "/faults/latency", {"ms": options.latency_ms})
    mark = len(sandbox.service.all_lines)
    with tempfile.TemporaryDirectory(prefix="signdeal-bench-") as folder:
        store = Path(folder) / "signdeal.db"
        try:
            port = free_port()
            env = crm_writer_env(
                topology,
                port,
                store_url=f"sqlite:///{store}",
                rd_url=sandbox.api_url,
                rate_limit_per_minute=UNLIMITED_PER_MINUTE,
                prefetch=prefetch,
            )
            writer = await group.start("crm_writer", ["-m", "services.crm_writer"], env, port)
            run = DrainRun(events, prefetch)
            run.startup_seconds = await writer.wait_ready()
            await asyncio.sleep(1.0)
            run.rss_idle_mb = writer.rss_mb()
            started = time.monotonic()
            costs: dict[str, Any] = {}
            publishing = asyncio.create_task(publish_backlog(topology, events, run_name))
            if profile:
                await asyncio.sleep(2.0)
                output = RESULTS_DIR / "profile-crm_writer.speedscope.json"
                log(f"crm_writer: profiling {options.profile_seconds:g} s with py-spy")
                if await profiling.record(writer.pid, options.profile_seconds, output):
                    costs = profiling.top_costs(output)
                    costs["file"] = str(output.relative_to(RESULTS_DIR.parent.parent))
                else:
                    costs = {"error": "py-spy unavailable"}
            await publishing
            await _wait_drained(writer, store, run, options.timeout_seconds, started)
            await asyncio.sleep(1.0)
            run.rss_end_mb = writer.rss_mb()
            await writer.stop()
        finally:
            await drop_topology(topology)
    requests = sandbox.requests_since(mark)
    result = run.as_json()
    result["rd_requests"] = len(requests)
    result["rd_requests_per_event"] = round(len(requests) / events, 2)
    result["rd_statuses"] = dict(Counter(str(line.get("status")) for line in requests))
    if profile:
        return {"prefetch": prefetch, "events": events, **costs}
    return result
