"""Benchmark 1: ingest against two baselines, plus ingest's memory, start-up and profile.

One ingest process (real broker, publisher confirms, quorum queue, JSON logs at INFO as in
production) and two `bench.baseline_app` processes receive the same load from `bench.loadgen`
(another process): a closed loop of N requests at concurrency C, then an open loop at a fixed rate.
The first baseline reads the body and checks the HMAC (the framework's ceiling, issue 8); the
second also publishes the raw body with a publisher confirm (the unavoidable work, issue 16), so
ingest's ratio to it is what signdeal's own code costs. Before each closed loop that publishes,
the work queue is purged, so both publishers start from the same empty queue.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from bench import profiling
from bench.common import (
    AMQP_URL,
    HOST,
    RESULTS_DIR,
    WEBHOOK_SECRET,
    Service,
    drop_topology,
    free_port,
    ingest_env,
    log,
    new_topology,
    percentile,
    purge,
    queue_depth,
    service_env,
    services,
)

WEBHOOK_PATH = "/webhooks/clicksign"
WARMUP_REQUESTS = 200  # bench.loadgen's --warmup default


@dataclass(frozen=True)
class IngestOptions:
    count: int = 10_000
    concurrency: int = 64
    rate: float = 500.0
    rate_seconds: float = 10.0
    rounds: int = 1
    profile_seconds: float = 8.0
    startups: int = 3


async def loadgen(target: Service, *arguments: str) -> dict[str, Any]:
    """Run the load generator against ``target``; its summary, plus the target's CPU time per
    request (warm-up included), which contention on a shared machine moves much less than the
    throughput."""
    cpu_before = target.cpu_seconds()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        target.base_url + WEBHOOK_PATH,
        "--run",
        uuid.uuid4().hex,
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err.decode(errors='replace')[-1000:]}")
    result: dict[str, Any] = orjson.loads(out)
    sent = result["requests"] + WARMUP_REQUESTS
    result["cpu_ms_per_request"] = round((target.cpu_seconds() - cpu_before) * 1000 / sent, 3)
    return result


async def run(options: IngestOptions) -> dict[str, Any]:
    topology = new_topology("ingest")
    result: dict[str, Any] = {}
    result["options"] = {
        "count": options.count,
        "concurrency": options.concurrency,
        "open_loop_rate": options.rate,
        "open_loop_seconds": options.rate_seconds,
        "rounds": options.rounds,
    }
    try:
        async with services() as group:
            startup = []
            for _ in range(options.startups):
                port = free_port()
                probe = await group.start(
                    "ingest", ["-m", "services.ingest"], ingest_env(topology, port), port
                )
                startup.append(await probe.wait_ready())
                await probe.stop()
            ingest_port = free_port()
            ingest = await group.start(
                "ingest",
                ["-m", "services.ingest"],
                ingest_env(topology, ingest_port),
                ingest_port,
                keep_output=True,
            )
            baseline_port = free_port()
            baseline = await group.start(
                "baseline",
                [
                    "-m",
                    "bench.baseline_app",
                    "--host",
                    HOST,
                    "--port",
                    str(baseline_port),
                    "--secret",
                    WEBHOOK_SECRET,
                ],
                service_env(),
                baseline_port,
            )
            publishing_port = free_port()
            publishing = await group.start(
                "publishing-baseline",
                [
                    "-m",
                    "bench.baseline_app",
                    "--host",
                    HOST,
                    "--port",
                    str(publishing_port),
                    "--secret",
                    WEBHOOK_SECRET,
                    "--amqp-url",
                    AMQP_URL,
                    "--topology-prefix",
                    topology.prefix,
                ],
                service_env(),
                publishing_port,
            )
            startup.append(await ingest.wait_ready())
            await baseline.wait_ready()
            await publishing.wait_ready()
            await asyncio.sleep(1.0)
            result["startup_to_ready_seconds"] = sorted(round(value, 3) for value in startup)
            result["rss_idle_mb"] = round(ingest.rss_mb(), 1)
            result["baseline_rss_idle_mb"] = round(baseline.rss_mb(), 1)

            closed = ["--count", str(options.count), "--concurrency", str(options.concurrency)]
            rounds: list[dict[str, Any]] = []
            for number in range(options.rounds):
                log(f"ingest: closed loop round {number + 1}: baseline")
                base = await loadgen(baseline, *closed)
                log(f"  baseline {base['requests_per_second']} req/s, p99 {base['p99_ms']} ms")
                log(f"ingest: closed loop round {number + 1}: publishing baseline")
                await purge(topology)
                pub = await loadgen(publishing, *closed)
                log(f"  publishing {pub['requests_per_second']} req/s, p99 {pub['p99_ms']} ms")
                log(f"ingest: closed loop round {number + 1}: ingest")
                await purge(topology)
                real = await loadgen(ingest, *closed)
                log(f"  ingest {real['requests_per_second']} req/s, p99 {real['p99_ms']} ms")
                rounds.append({"baseline": base, "publishing_baseline": pub, "ingest": real})
            best = {
                key: max(rounds, key=lambda r: r[key]["requests_per_second"])[key]
                for key in ("baseline", "publishing_baseline", "ingest")
            }
            result["closed_loop"] = {
                "rounds": rounds,
                **best,
                "ratio": _ratio(best["ingest"], best["baseline"]),
                "ratio_to_publishing_baseline": _ratio(best["ingest"], best["publishing_baseline"]),
                "cpu_ms_per_request": {
                    key: min(r[key]["cpu_ms_per_request"] for r in rounds)
                    for key in ("baseline", "publishing_baseline", "ingest")
                },
            }
            open_args = ["--rate", f"{options.rate:g}", "--duration", f"{options.rate_seconds:g}"]
            log(f"ingest: open loop {options.rate:g} req/s for {options.rate_seconds:g} s")
            result["open_loop"] = {"baseline": await loadgen(baseline, *open_args)}
            # Nothing consumes here, so the closed loop left its messages on the quorum queue: a
            # burst that crm_writer (held to RD's 2 requests/s) has not drained yet. The same
            # load then runs against an empty queue.
            for phase in ("backlog", "empty"):
                if phase == "empty":
                    await purge(topology)
                depth = await queue_depth(topology)
                mark = len(ingest.all_lines)
                answers = await loadgen(ingest, *open_args)
                confirms = confirm_latency(ingest.all_lines[mark:])
                key = "ingest" if phase == "backlog" else "ingest_empty_queue"
                result["open_loop"][key] = answers | {"queue_depth_at_start": depth}
                result["open_loop"][f"{key}_confirm_ms"] = confirms
                log(
                    f"  ingest, {depth:,} messages queued: p99 {answers['p99_ms']} ms "
                    f"(confirm p99 {confirms['p99']} ms)"
                )
            log(f"  baseline p99 {result['open_loop']['baseline']['p99_ms']} ms")
            ingest.keep_output = False
            ingest.all_lines.clear()
            result["rss_after_load_mb"] = round(ingest.rss_mb(), 1)
            result["requests_served"] = (
                sum(r["ingest"]["requests"] for r in rounds)
                + result["open_loop"]["ingest"]["requests"]
                + result["open_loop"]["ingest_empty_queue"]["requests"]
            )
            if options.profile_seconds > 0:
                result["profile"] = await _profile(ingest, options)
            result["rss_end_mb"] = round(ingest.rss_mb(), 1)
    finally:
        await drop_topology(topology)
    return result


def _ratio(ingest: dict[str, Any], baseline: dict[str, Any]) -> float:
    return round(float(ingest["requests_per_second"]) / float(baseline["requests_per_second"]), 3)


def confirm_latency(lines: list[str]) -> dict[str, float]:
    """Publisher-confirm times ingest logged (``event.published`` ``confirm_ms``): how much of a
    request's latency is the broker's."""
    confirms = [
        float(orjson.loads(text)["confirm_ms"]) for text in lines if '"event.published"' in text
    ]
    return {
        "count": len(confirms),
        "p50": round(percentile(confirms, 50), 2),
        "p95": round(percentile(confirms, 95), 2),
        "p99": round(percentile(confirms, 99), 2),
        "max": round(max(confirms, default=0.0), 2),
    }


async def _profile(ingest: Service, options: IngestOptions) -> dict[str, Any]:
    """py-spy on ingest while a closed-loop load runs (not a measured run)."""
    output = RESULTS_DIR / "profile-ingest.speedscope.json"
    count = max(2000, int(options.profile_seconds * 2500))
    load = asyncio.create_task(
        loadgen(ingest, "--count", str(count), "--concurrency", str(options.concurrency))
    )
    await asyncio.sleep(2.0)  # the generator builds its bodies first
    log(f"ingest: profiling {options.profile_seconds:g} s with py-spy")
    recorded = await profiling.record(ingest.pid, options.profile_seconds, output)
    await load
    if not recorded:
        return {"error": "py-spy unavailable"}
    return {"file": str(output.relative_to(RESULTS_DIR.parent.parent))} | profiling.top_costs(
        output
    )
