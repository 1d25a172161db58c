"""The security probe (issue 14): hostile and broken requests against real ingest and crm_writer
processes on 127.0.0.1, each answer compared with what the documentation promises.

``python -m bench.run --only security`` (also a step of ``make bench``). It starts the RD sandbox,
ingest (the deployed defaults: 1 MiB bodies, 5 s body deadline, 32 bodies at once) and crm_writer
with ``CRM_WRITER_API_TOKEN`` on one topology, then sends, batch after batch, the inputs of
`bench.hostile_inputs`: bad signatures, broken bodies unsigned and signed, oversized and slow
bodies, every body slot taken, header and path abuse, ambiguous framing, other methods; then the
history with the token set, then (crm_writer restarted on the same store without a token) the
history in loopback-only mode. Good webhooks (canaries) go in before every batch and during the
slow clients. Between batches both services' ``/healthz`` must answer; at the end both processes
must still run. Meanwhile ingest's RSS is sampled every 50 ms; afterwards every line both services
printed is searched for the webhook secret, the API token and the RD sandbox's token (the broker's
password, ``guest``, is too common a word to search for).

Bounded: about 500 connections, about a minute; every process started is stopped, the AMQP names
and the SQLite file are deleted. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import hostile_inputs as hostile
from bench.common import (
    WEBHOOK_SECRET,
    Service,
    Services,
    crm_writer_env,
    drop_topology,
    free_port,
    ingest_env,
    log,
    new_topology,
    percentile,
    rss_mb,
    services,
)
from bench.drain import start_sandbox
from services.crm_writer.settings import SANDBOX_TOKEN
from services.ingest.settings import IngestSettings
from shared.logging import REDACTED
from shared.topology import Topology

OTHER_LOOPBACK = "127.0.0.2"
RSS_EVERY_SECONDS = 0.05
# Long enough for ingest to give memory back after large bodies (services/ingest/body.py).
SETTLE_SECONDS = 3.0
HISTORY_WAIT_SECONDS = 60.0
# RD's limit is not what is probed: lifted, so that the canaries reach the history in seconds.
RD_PER_MINUTE = 6_000


def _default(name: str) -> Any:
    return IngestSettings.model_fields[name].default


@dataclass(frozen=True)
class SecurityOptions:
    canaries_per_batch: int = 3
    # Bodies at the limit sent at once, and as many chunked ones over it (ingest's memory peak).
    bulk: int = 32
    # Clients past the body slots in the busy batch.
    busy_extra: int = 8
    max_body_bytes: int = _default("ingest_max_body_bytes")
    body_slots: int = _default("ingest_max_concurrent_bodies")


@dataclass
class Watch:
    """What the probe watches besides the answers: the services' health and ingest's memory."""

    ingest: Service
    health_checks: int = 0
    health_failures: list[str] = field(default_factory=list)
    rss_samples: list[float] = field(default_factory=list)

    async def sample_rss(self) -> None:
        while True:
            with suppress(OSError, ValueError):
                self.rss_samples.append(rss_mb(self.ingest.pid))
            await asyncio.sleep(RSS_EVERY_SECONDS)

    async def healthy(self, label: str, *targets: Service) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for service in targets:
                self.health_checks += 1
                try:
                    async with session.get(service.base_url + "/healthz") as response:
                        if response.status == 200:
                            continue
                        failure = f"{response.status}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failure = type(exc).__name__
                self.health_failures.append(f"{service.name} before {label}: {failure}")


@dataclass
class Probing:
    """One run: the services, the answers so far, the canaries' latency."""

    bodies: hostile.Bodies
    watch: Watch
    canaries_per_batch: int
    answers: list[hostile.Answer] = field(default_factory=list)
    canaries_sent: int = 0

    async def batch(
        self,
        label: str,
        service: Service,
        probes: list[hostile.Probe],
        *,
        together: bool = False,
        others: Iterable[Service] = (),
    ) -> None:
        """``/healthz`` of every service, canaries to ingest, then ``probes`` (one after the
        other, or all at once)."""
        await self.watch.healthy(label, service, *others)
        if service is self.watch.ingest:
            self.answers += await hostile.exchange_each(*_address(service), self.canaries())
        send = hostile.exchange_all if together else hostile.exchange_each
        started = time.monotonic()
        answers = await send(*_address(service), probes)
        self.answers += answers
        wrong = sum(not answer.as_expected for answer in answers)
        log(
            f"security {label}: {len(answers)} probes, {wrong} unexpected "
            f"({time.monotonic() - started:.1f} s)"
        )

    def canaries(self, count: int | None = None, start_after: float = 0.0) -> list[hostile.Probe]:
        count = self.canaries_per_batch if count is None else count
        probes = [
            hostile.canary(
                self.bodies,
                WEBHOOK_SECRET,
                str(self.canaries_sent + index),
                start_after=start_after * index,
            )
            for index in range(count)
        ]
        self.canaries_sent += count
        return probes

    def canary_event_ids(self) -> list[str]:
        return [
            hostile.event_id_of(self.bodies.trigger(f"canary-{index}"))
            for index in range(self.canaries_sent)
        ]


def _address(service: Service) -> tuple[str, int]:
    host, port = service.base_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def run(options: SecurityOptions) -> dict[str, Any]:
    topology = new_topology("security")
    token = f"probe-token-{uuid.uuid4().hex}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signdeal-security-") as folder:
        store_url = f"sqlite:///{Path(folder) / 'signdeal.db'}"
        try:
            async with services() as group:
                result = await _probe(group, topology, store_url, token, options)
        finally:
            await drop_topology(topology)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


async def _probe(
    group: Services, topology: Topology, store_url: str, token: str, options: SecurityOptions
) -> dict[str, Any]:
    sandbox = await start_sandbox(group, limit=RD_PER_MINUTE, window=60.0)
    port = free_port()
    ingest = await group.start(
        "ingest", ["-m", "services.ingest"], ingest_env(topology, port), port, keep_output=True
    )
    start_writer = _writer_starter(group, topology, store_url, sandbox.api_url)
    writer = await start_writer(CRM_WRITER_API_TOKEN=token)
    await ingest.wait_ready()
    watch = Watch(ingest)
    probing = Probing(hostile.Bodies(uuid.uuid4().hex[:8]), watch, options.canaries_per_batch)
    sampler = asyncio.create_task(watch.sample_rss())
    try:
        probing.answers += await hostile.exchange_each(*_address(ingest), probing.canaries(2))
        await asyncio.sleep(SETTLE_SECONDS)
        rss_before = rss_mb(ingest.pid)
        await _ingest_batches(probing, ingest, writer, options)
        await asyncio.sleep(SETTLE_SECONDS)
        rss_after = rss_mb(ingest.pid)
    finally:
        sampler.cancel()

    wanted = probing.canary_event_ids()
    in_history = await _history_rows(writer, token, wanted)
    log(f"security: {len(in_history)} of {len(wanted)} canaries in crm_writer's history")
    known = in_history[0] if in_history else None
    history = hostile.history_token_probes(token, known)
    await probing.batch("history, token set", writer, history, others=[ingest])
    await probing.batch("crm_writer HTTP", writer, hostile.http_probes("crm_writer HTTP"),
                        together=True)  # fmt: skip
    alive = {"crm_writer (token)": writer.process.returncode is None}
    await writer.stop()

    writer = await start_writer()  # no CRM_WRITER_API_TOKEN: loopback only, same store
    history = hostile.history_loopback_probes(known, OTHER_LOOPBACK)
    await probing.batch("history, loopback only", writer, history, others=[ingest])
    await watch.healthy("the end", ingest, writer)
    alive |= {
        "ingest": ingest.process.returncode is None,
        "crm_writer (loopback only)": writer.process.returncode is None,
    }
    ours = [service for service in group.started if service is not sandbox.service]
    found = _figures(probing, alive, rss_before, rss_after, ours, token)
    found["canaries_in_history"] = {"sent": len(wanted), "found": len(in_history)}
    return found


def _writer_starter(
    group: Services, topology: Topology, store_url: str, rd_url: str
) -> Callable[..., Awaitable[Service]]:
    """Starts crm_writer on ``store_url`` with these extra variables, ready."""

    async def start(**variables: str) -> Service:
        port = free_port()
        env = crm_writer_env(
            topology,
            port,
            store_url=store_url,
            rd_url=rd_url,
            rate_limit_per_minute=RD_PER_MINUTE,
            prefetch=8,
            **variables,
        )
        writer = await group.start(
            "crm_writer", ["-m", "services.crm_writer"], env, port, keep_output=True
        )
        await writer.wait_ready()
        return writer

    return start  # fmt: skip


async def _ingest_batches(
    probing: Probing, ingest: Service, writer: Service, options: SecurityOptions
) -> None:
    bodies, secret = probing.bodies, WEBHOOK_SECRET
    limit = options.max_body_bytes
    for label, probes in hostile.ingest_probes(bodies, secret, limit):
        await probing.batch(label, ingest, probes, others=[writer])
    await probing.batch(
        "bulk bodies",
        ingest,
        hostile.bulk_probes(bodies, limit, options.bulk),
        together=True,
        others=[writer],
    )
    # Good webhooks while slow clients hold their connections: answered as usual.
    slow = hostile.slow_client_probes() + probing.canaries(options.canaries_per_batch * 2, 1.0)
    await probing.batch("slow clients", ingest, slow, together=True, others=[writer])
    busy = hostile.busy_probes(bodies, secret, options.body_slots, options.busy_extra)
    await probing.batch("busy", ingest, busy, together=True, others=[writer])
    await probing.batch("after", ingest, [], others=[writer])


async def _history_rows(writer: Service, token: str, wanted: list[str]) -> list[str]:
    """The canaries' event ids once crm_writer's history has them all (or what it has after
    `HISTORY_WAIT_SECONDS`)."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + HISTORY_WAIT_SECONDS
    found: set[str] = set()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while time.monotonic() < deadline:
            async with session.get(writer.base_url + "/events?limit=500", headers=headers) as got:
                found = {event["event_id"] for event in (await got.json())["events"]}
            if found.issuperset(wanted):
                break
            await asyncio.sleep(0.5)
    return [event_id for event_id in wanted if event_id in found]


def _figures(
    probing: Probing,
    alive: dict[str, bool],
    rss_before: float,
    rss_after: float,
    outputs: list[Service],
    token: str,
) -> dict[str, Any]:
    answers = probing.answers
    canaries = [a.seconds * 1000 for a in answers if a.probe.category == "canary"]
    slow = {
        a.probe.name: round(a.seconds, 2) for a in answers if a.probe.category == "slow clients"
    }
    return {
        "categories": hostile.summary(answers),
        "tried": len(answers),
        "as_expected": sum(answer.as_expected for answer in answers),
        "unexpected": [answer.describe() for answer in answers if not answer.as_expected],
        "service_up": {
            "health_checks": probing.watch.health_checks,
            "health_failures": probing.watch.health_failures,
            "alive_at_end": alive,
        },
        "ingest_rss_mb": {
            "before": round(rss_before, 1),
            "peak": round(max(probing.watch.rss_samples, default=0.0), 1),
            "after": round(rss_after, 1),
        },
        "canary_ms": {
            "count": len(canaries),
            "p50": round(percentile(canaries, 50), 1),
            "p99": round(percentile(canaries, 99), 1),
            "max": round(max(canaries, default=0.0), 1),
        },
        "slow_clients_seconds": slow,
        "logs": log_findings(outputs, [WEBHOOK_SECRET, token, SANDBOX_TOKEN]),
        "answers": [answer.describe() for answer in answers],
    }


def log_findings(outputs: list[Service], secrets: list[str]) -> dict[str, Any]:
    """What the services printed: lines, the longest, lines that are not JSON, lines holding a
    secret (named by where, never by the secret), failed and unhandled lines."""
    lines = [(service.name, line) for service in outputs for line in service.all_lines]
    not_json = 0
    events: dict[str, int] = {}
    for _, line in lines:
        try:
            parsed = orjson.loads(line)
        except orjson.JSONDecodeError:
            not_json += 1
            continue
        name = str(parsed.get("event")) if isinstance(parsed, dict) else "?"
        events[name] = events.get(name, 0) + 1
    leaks = [
        f"{name} line {index}"
        for index, (name, line) in enumerate(lines)
        if any(secret in line for secret in secrets)
    ]
    return {
        "lines": len(lines),
        "longest_line_chars": max((len(line) for _, line in lines), default=0),
        "not_json": not_json,
        "lines_with_a_secret": leaks,
        # Where the redaction did its work (the probes put the secrets in query strings, headers
        # and event names).
        "lines_masked": sum(REDACTED in line for _, line in lines),
        "log_line_failed": events.get("log.line_failed", 0),
        "http_unhandled_error": events.get("http.unhandled_error", 0),
    }


def table(found: dict[str, Any]) -> str:
    """The categories with tried / as expected / unexpected, then the figures."""
    rows = ["| category | tried | answered as expected | unexpected |", "|---|---|---|---|"]
    rows += [
        f"| {name} | {row['tried']} | {row['as_expected']} | {row['unexpected']} |"
        for name, row in found["categories"].items()
    ]
    rows.append(
        f"| **all** | {found['tried']} | {found['as_expected']} | {len(found['unexpected'])} |"
    )
    up = found["service_up"]
    rss, canary, logs = found["ingest_rss_mb"], found["canary_ms"], found["logs"]
    rows += [
        "",
        f"- service up throughout: {up['health_checks'] - len(up['health_failures'])}/"
        f"{up['health_checks']} /healthz answered between batches; alive at the end: "
        + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in up["alive_at_end"].items()),
        f"- ingest RSS: {rss['before']} MB before, {rss['peak']} MB at peak, {rss['after']} MB "
        "after",
        f"- canaries: {canary['count']} good webhooks, p50 {canary['p50']} ms, p99 "
        f"{canary['p99']} ms, max {canary['max']} ms; in crm_writer's history "
        f"{found['canaries_in_history']['found']} of {found['canaries_in_history']['sent']}",
        f"- logs: {logs['lines']} lines, longest {logs['longest_line_chars']:,} characters, "
        f"{logs['not_json']} not JSON, {len(logs['lines_with_a_secret'])} holding a secret "
        f"({logs['lines_masked']} with one masked), "
        f"{logs['log_line_failed']} log.line_failed, {logs['http_unhandled_error']} "
        "http.unhandled_error",
    ]
    rows += [
        f"- UNEXPECTED {row['category']}: {row['name']}: expected {row['expected']}, got "
        f"{row['actual']}"
        for row in found["unexpected"]
    ]
    return "\n".join(rows)
