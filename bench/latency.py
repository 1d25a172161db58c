"""Benchmark: end-to-end latency, webhook accepted by ingest → deal visible in the RD sandbox.

A realistic RD: its real limit (120 per 60 s, and crm_writer told 120) and every call answered
after ``rd_latency_ms`` (RD's own answers take a few hundred ms). Light load: one webhook every
``every_seconds``, each on a new document with a new signer (create the deal, look the contact
up, create it linked), so no event waits for another. The clock starts when ingest answers 202
(the broker confirmed) and stops when the sandbox's state first shows the deal, then the deal
with its signer linked (the whole effect); the state is polled every ``poll_ms``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    crm_writer_env,
    drop_topology,
    free_port,
    ingest_env,
    log,
    new_topology,
    percentile,
    services,
    webhook,
)
from bench.drain import RD_LIMIT, RD_WINDOW_SECONDS, Sandbox, start_sandbox
from bench.ingest import WEBHOOK_PATH

FILE_SUFFIX = ".pdf"


@dataclass(frozen=True)
class LatencyOptions:
    webhooks: int = 20
    every_seconds: float = 3.0
    rd_latency_ms: int = 300
    poll_ms: int = 20


@dataclass
class Pending:
    """One webhook on its way: when ingest accepted it, when its deal showed up, complete."""

    name_prefix: str
    accepted_at: float = 0.0
    deal_at: float | None = None
    linked_at: float | None = None


@dataclass
class Watch:
    """The webhooks sent, found again by their deal's name (``{file name} - {signer}``)."""

    webhooks: list[Pending] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def seen(self, state: dict[str, Any], now: float) -> None:
        by_prefix = {pending.name_prefix: pending for pending in self.webhooks}
        for deal in state["deals"]:
            pending = by_prefix.get(str(deal["name"]).split(FILE_SUFFIX, 1)[0])
            if pending is None or not pending.accepted_at:
                continue
            pending.deal_at = pending.deal_at or now
            if deal["contact_ids"]:
                pending.linked_at = pending.linked_at or now
        if all(pending.linked_at is not None for pending in self.webhooks):
            self.complete.set()


async def run(options: LatencyOptions) -> dict[str, Any]:
    topology = new_topology("latency")
    run_name = uuid.uuid4().hex[:8]
    watch = Watch([Pending(f"Latency {run_name} {i:04d}") for i in range(options.webhooks)])
    with tempfile.TemporaryDirectory(prefix="signdeal-bench-") as folder:
        try:
            async with services() as group:
                sandbox = await start_sandbox(group, limit=RD_LIMIT, window=RD_WINDOW_SECONDS)
                await sandbox.control("PUT", "/faults/latency", {"ms": options.rd_latency_ms})
                ingest_port, writer_port = free_port(), free_port()
                ingest = await group.start(
                    "ingest",
                    ["-m", "services.ingest"],
                    ingest_env(topology, ingest_port),
                    ingest_port,
                )
                env = crm_writer_env(
                    topology,
                    writer_port,
                    store_url=f"sqlite:///{Path(folder) / 'signdeal.db'}",
                    rd_url=sandbox.api_url,
                    rate_limit_per_minute=RD_LIMIT,
                    prefetch=8,
                )
                writer = await group.start(
                    "crm_writer", ["-m", "services.crm_writer"], env, writer_port
                )
                await ingest.wait_ready()
                await writer.wait_ready()
                log(
                    f"latency: {options.webhooks} webhooks, one every {options.every_seconds:g} s, "
                    f"RD latency {options.rd_latency_ms} ms, RD limit {RD_LIMIT}/60 s"
                )
                polling = asyncio.create_task(_poll(sandbox, watch, options.poll_ms / 1000))
                try:
                    await _send(ingest.base_url + WEBHOOK_PATH, watch, run_name, options)
                    limit = 60.0 + options.webhooks * options.every_seconds
                    await asyncio.wait_for(watch.complete.wait(), limit)
                finally:
                    polling.cancel()
        finally:
            await drop_topology(topology)
    return _figures(watch, options)


async def _send(url: str, watch: Watch, run_name: str, options: LatencyOptions) -> None:
    """One webhook every ``every_seconds`` (open loop: due times do not drift)."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for index, pending in enumerate(watch.webhooks):
            await asyncio.sleep(
                max(0.0, started + index * options.every_seconds - time.monotonic())
            )
            body, headers = webhook(index, run_name, filename=pending.name_prefix + FILE_SUFFIX)
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"ingest answered {response.status} to webhook {index}")
                pending.accepted_at = time.monotonic()


async def _poll(sandbox: Sandbox, watch: Watch, every: float) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(sandbox.control_url + "/state") as response:
                state = await response.json()
            watch.seen(state, time.monotonic())
            await asyncio.sleep(every)


def _figures(watch: Watch, options: LatencyOptions) -> dict[str, Any]:
    def summary(times: list[float]) -> dict[str, float]:
        ms = [value * 1000 for value in times]
        return {
            "p50_ms": round(percentile(ms, 50)),
            "p90_ms": round(percentile(ms, 90)),
            "p99_ms": round(percentile(ms, 99)),
            "max_ms": round(max(ms, default=0.0)),
        }

    deal = [p.deal_at - p.accepted_at for p in watch.webhooks if p.deal_at is not None]
    linked = [p.linked_at - p.accepted_at for p in watch.webhooks if p.linked_at is not None]
    return {
        "webhooks": options.webhooks,
        "every_seconds": options.every_seconds,
        "rd_latency_ms": options.rd_latency_ms,
        "rd_limit": f"{RD_LIMIT} per {RD_WINDOW_SECONDS:g} s (client 120/min)",
        "poll_ms": options.poll_ms,
        "store": "sqlite",
        "deal_visible": summary(deal),
        "deal_with_signer_linked": summary(linked),
    }
