"""``python -m bench.run [--quick | --full] [--only STEP,…] [sizes…]``

Steps: ingest, drain, ceiling, replicas, latency, log_lines, security. Runs the benchmarks
against 127.0.0.1 (RabbitMQ from ``BENCH_AMQP_URL``, default guest@127.0.0.1; PostgreSQL from
``BENCH_POSTGRES_URL`` for the replicas step), prints the figures as a Markdown table with the
goals of issues 8, 14 and 16 (and the security probe's own table, docs/security.md) and writes
everything to ``bench/results/latest.json``. Every load is bounded in count and time; every
process started is stopped, every AMQP name declared and every database created is deleted. The
default run takes about 9 minutes on 2 cores, ``--quick`` about 5, ``--full`` (issue 8's sizes)
about 40; ``--only security`` about 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from bench import drain, ingest, latency, log_lines, replicas, security_probe
from bench.common import RESULTS_DIR, log, machine

STEPS = ("ingest", "drain", "ceiling", "replicas", "latency", "log_lines", "security")
RSS_LIMIT_MB = 150.0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[2])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes: about 4 minutes")
    size.add_argument(
        "--full", action="store_true", help="issue 8's sizes (5,000-event drain, 10,000 backlog)"
    )
    parser.add_argument(
        "--only", default=",".join(STEPS), help="comma-separated: " + ", ".join(STEPS)
    )
    parser.add_argument("--requests", type=int, help="closed-loop requests per target")
    parser.add_argument("--concurrency", type=int, help="closed-loop connections")
    parser.add_argument("--rate", type=float, help="open-loop requests/s")
    parser.add_argument("--rate-seconds", type=float, help="open-loop duration")
    parser.add_argument("--rounds", type=int, help="closed-loop rounds (best one kept)")
    parser.add_argument("--drain-events", type=int, help="backlog against the scaled RD limit")
    parser.add_argument("--scale", type=int, help="RD limit multiplier (120/60 s → 120/(60/k) s)")
    parser.add_argument("--ceiling-events", type=int, help="backlog per prefetch, limit lifted")
    parser.add_argument("--prefetch", help="CRM_WRITER_PREFETCH values, comma-separated")
    parser.add_argument("--latency-ms", type=int, help="sandbox latency for the ceiling")
    parser.add_argument("--profile-seconds", type=float, help="py-spy seconds; 0 = no profile")
    parser.add_argument("--replica-events", type=int, help="backlog for one and for N replicas")
    parser.add_argument("--replicas", type=int, help="crm_writer replicas on PostgreSQL")
    parser.add_argument("--latency-webhooks", type=int, help="webhooks timed end to end")
    parser.add_argument("--latency-every", type=float, help="seconds between those webhooks")
    parser.add_argument("--rd-latency-ms", type=int, help="RD latency for the end-to-end step")
    parser.add_argument("--output", default=str(RESULTS_DIR / "latest.json"))
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Options:
    load: ingest.IngestOptions
    backlog: drain.DrainOptions
    replicas: replicas.ReplicaOptions
    latency: latency.LatencyOptions
    lines: log_lines.LogLineOptions
    security: security_probe.SecurityOptions


def options(args: argparse.Namespace) -> Options:
    load = ingest.IngestOptions()
    backlog = drain.DrainOptions()
    lines = log_lines.LogLineOptions()
    shared = replicas.ReplicaOptions()
    timed = latency.LatencyOptions()
    probe = security_probe.SecurityOptions()
    if args.quick:
        load = replace(load, count=3000, rate_seconds=5.0, profile_seconds=4.0, startups=1)
        backlog = replace(
            backlog, events=200, ceiling_events=500, prefetches=(8, 32), profile_seconds=4.0
        )
        lines = replace(lines, seconds_per_figure=0.15, requests=20, attack_seconds=5.0)
        shared = replace(shared, events=150)
        timed = replace(timed, webhooks=10)
        probe = replace(probe, canaries_per_batch=1, bulk=8)
    if args.full:
        load = replace(load, count=20_000, rate_seconds=20.0, rounds=2)
        backlog = replace(backlog, events=5000, ceiling_events=10_000, prefetches=(8, 32, 64))
        shared = replace(shared, events=1500)
        timed = replace(timed, webhooks=100)
    overrides = {
        "count": args.requests,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "rate_seconds": args.rate_seconds,
        "rounds": args.rounds,
        "profile_seconds": args.profile_seconds,
    }
    load = replace(load, **{key: value for key, value in overrides.items() if value is not None})
    prefetches = tuple(int(p) for p in args.prefetch.split(",")) if args.prefetch else None
    overrides = {
        "events": args.drain_events,
        "scale": args.scale,
        "ceiling_events": args.ceiling_events,
        "prefetches": prefetches,
        "latency_ms": args.latency_ms,
        "profile_seconds": args.profile_seconds,
    }
    backlog = replace(
        backlog, **{key: value for key, value in overrides.items() if value is not None}
    )
    overrides = {"events": args.replica_events, "replicas": args.replicas, "scale": args.scale}
    shared = replace(
        shared, **{key: value for key, value in overrides.items() if value is not None}
    )
    overrides = {
        "webhooks": args.latency_webhooks,
        "every_seconds": args.latency_every,
        "rd_latency_ms": args.rd_latency_ms,
    }
    timed = replace(timed, **{key: value for key, value in overrides.items() if value is not None})
    return Options(load, backlog, shared, timed, lines, probe)


async def run_steps(steps: list[str], chosen: Options) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for step in steps:
        started = time.monotonic()
        log(f"== {step}")
        try:
            if step == "ingest":
                results[step] = await ingest.run(chosen.load)
            elif step == "drain":
                results[step] = await drain.limited(chosen.backlog)
            elif step == "ceiling":
                results[step] = await drain.ceiling(chosen.backlog)
            elif step == "replicas":
                results[step] = await replicas.run(chosen.replicas)
            elif step == "latency":
                results[step] = await latency.run(chosen.latency)
            elif step == "log_lines":
                results[step] = await log_lines.run(chosen.lines)
            elif step == "security":
                results[step] = await security_probe.run(chosen.security)
        except Exception as exc:  # one failed step must not lose the others
            log(f"{step} failed: {type(exc).__name__}: {exc}")
            results[step] = {"error": f"{type(exc).__name__}: {exc}"}
        results[step]["wall_seconds"] = round(time.monotonic() - started, 1)
    return results


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 8's goals with the figure measured and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, figure: str, met: bool | None) -> None:
        rows.append({"goal": name, "figure": figure, "met": met})

    for step, found in results.items():
        if "error" in found:
            add(f"{step} step", f"failed: {found['error']}", False)
    results = {step: found for step, found in results.items() if "error" not in found}
    if "ingest" in results:
        found = results["ingest"]
        closed = found["closed_loop"]
        add(
            "ingest ≥ 60% of baseline throughput",
            f"{closed['ingest']['requests_per_second']:g} / "
            f"{closed['baseline']['requests_per_second']:g} req/s = {closed['ratio']:.0%}",
            closed["ratio"] >= 0.60,
        )
        if "publishing_baseline" in closed:
            cpu = closed["cpu_ms_per_request"]
            add(
                "ingest ≥ 75% of the publishing baseline's throughput (issue 16)",
                f"{closed['ingest']['requests_per_second']:g} / "
                f"{closed['publishing_baseline']['requests_per_second']:g} req/s = "
                f"{closed['ratio_to_publishing_baseline']:.0%}; CPU per request "
                f"{cpu['ingest']:g} vs {cpu['publishing_baseline']:g} ms "
                f"(= {cpu['publishing_baseline'] / cpu['ingest']:.0%}; "
                f"HMAC only {cpu['baseline']:g})",
                closed["ratio_to_publishing_baseline"] >= 0.75,
            )
        for key, label in (("ingest", "backlog"), ("ingest_empty_queue", "empty queue")):
            opened = found["open_loop"][key]
            confirm = found["open_loop"].get(f"{key}_confirm_ms", {})
            add(
                f"ingest p99 < 50 ms at {opened['target_rate']:g} req/s "
                f"({label}: {opened['queue_depth_at_start']:,} queued)",
                f"p99 {opened['p99_ms']:g} ms (p50 {opened['p50_ms']:g}; broker confirm "
                f"p50 {confirm.get('p50', 0):g}/p99 {confirm.get('p99', 0):g}; "
                f"{opened['ok']}/{opened['requests']} ok)",
                opened["p99_ms"] < 50 and opened["ok"] == opened["requests"],
            )
        add(
            "ingest RSS < 150 MB, flat",
            f"{found['rss_idle_mb']:g} MB idle → {found['rss_end_mb']:g} MB after "
            f"{found['requests_served']:,} requests",
            found["rss_end_mb"] < RSS_LIMIT_MB,
        )
    if "drain" in results:
        found = results["drain"]
        add(
            "drain uses ≥ 95% of the RD limit",
            f"{found['rd_requests_per_second']:g} of {found['limit_per_second']:g} req/s "
            f"= {found['limit_share']:.1%} (x{found['scale']}, {found['events']:,} events "
            f"in {found['drain_seconds']:g} s)",
            found["limit_share"] >= 0.95,
        )
        # No request seen is no measurement (the sandbox's request lines went missing once).
        add(
            "no 429 from RD",
            f"{found['rd_429']} x 429 in {found['rd_requests']:,} requests",
            found["rd_429"] == 0 and found["rd_requests"] > 0,
        )
    if "ceiling" in results:
        runs = results["ceiling"]["runs"]
        best = max(runs, key=lambda run: run["events_per_second"])
        add(
            f"pipeline ceiling, RD latency {results['ceiling']['latency_ms']} ms (no goal)",
            ", ".join(f"prefetch {r['prefetch']}: {r['events_per_second']:g}/s" for r in runs),
            None,
        )
        biggest = max(runs, key=lambda run: (run["events"], run["rss_end_mb"]))
        add(
            "crm_writer RSS < 150 MB, flat",
            f"{best['rss_idle_mb']:g} MB idle → {biggest['rss_end_mb']:g} MB after "
            f"{biggest['events']:,} events (peak {max(r['rss_peak_mb'] for r in runs):g})",
            max(r["rss_peak_mb"] for r in runs) < RSS_LIMIT_MB,
        )
    if "replicas" in results:
        found = results["replicas"]
        one, many = found["one_replica"], found["replicas"]
        add(
            f"{many['replicas']} replicas on PostgreSQL use ≥ 95% of the RD limit (issue 16)",
            f"{many['rd_requests_per_second']:g} of {many['limit_per_second']:g} req/s = "
            f"{many['limit_share']:.1%} (one replica: {one['limit_share']:.1%}; "
            f"x{found['scale']}, {found['events']:,} events, per replica "
            f"{'/'.join(str(n) for n in many['processed_per_replica'])})",
            many["limit_share"] >= 0.95,
        )
        add(
            f"no 429 with {many['replicas']} replicas",
            f"{many['rd_429']} x 429 (one replica: {one['rd_429']}); busiest window "
            f"{many['busiest_window_requests']} of {drain.RD_LIMIT} in {many['rd_requests']:,} "
            "requests",
            many["rd_429"] == 0 and many["rd_requests"] > 0,
        )
    if "latency" in results:
        found = results["latency"]
        deal, linked = found["deal_visible"], found["deal_with_signer_linked"]
        add(
            f"webhook accepted → deal in RD, RD latency {found['rd_latency_ms']} ms, one webhook "
            f"every {found['every_seconds']:g} s (no goal)",
            f"deal visible p50 {deal['p50_ms']:,} / p99 {deal['p99_ms']:,} ms; with its signer "
            f"linked p50 {linked['p50_ms']:,} / p99 {linked['p99_ms']:,} ms "
            f"({found['webhooks']} webhooks)",
            None,
        )
    if "log_lines" in results:
        add_log_line_rows(results["log_lines"], add)
    if "security" in results:
        add_security_rows(results["security"], add)
    return rows


def add_log_line_rows(found: dict[str, Any], add: Callable[[str, str, bool | None], None]) -> None:
    """Issue 14's figures (no goal): a line's cost at 1 MiB next to 100 B, a hostile path's."""
    sizes = [str(size) for size in found["sizes"]]
    for log_format, shapes in found["us_per_line"].items():
        figures = "; ".join(
            f"{shape} " + " / ".join(f"{by_size[size]}" for size in sizes)
            for shape, by_size in shapes.items()
        )
        add(f"log line µs, {log_format}, at {' / '.join(sizes)} B (no goal)", figures, None)
    medians = found["unsigned_404_median_ms"]
    webhooks = found["webhooks"]
    add(
        "unsigned 404 /a, /aaa… (8,000), /aaa…://x: median ms (no goal)",
        f"{medians['short']} / {medians['long']} / {medians['long_with_scheme']}",
        None,
    )
    add(
        "signed webhook p50/p99 alone, and under 10 clients sending /aaa…://x (no goal)",
        f"{webhooks['alone']['p50_ms']}/{webhooks['alone']['p99_ms']} ms; "
        f"{webhooks['under_hostile_paths']['p50_ms']}/{webhooks['under_hostile_paths']['p99_ms']}"
        f" ms ({webhooks['under_hostile_paths']['hostile_requests']} hostile requests)",
        None,
    )


def add_security_rows(found: dict[str, Any], add: Callable[[str, str, bool | None], None]) -> None:
    """The security probe (docs/security.md): every answer as documented, the services up,
    no secret in their logs."""
    unexpected = len(found["unexpected"])
    add(
        "security probe: every hostile input answered as documented",
        f"{found['as_expected']} of {found['tried']} ({unexpected} unexpected, "
        f"{len(found['categories'])} categories)",
        unexpected == 0,
    )
    up = found["service_up"]
    alive = all(up["alive_at_end"].values())
    add(
        "security probe: services up throughout",
        f"{up['health_checks'] - len(up['health_failures'])}/{up['health_checks']} /healthz "
        f"between batches; alive at the end: {'all' if alive else 'NOT ALL'}; canaries in "
        f"crm_writer's history {found['canaries_in_history']['found']}/"
        f"{found['canaries_in_history']['sent']}",
        not up["health_failures"] and alive,
    )
    logs = found["logs"]
    add(
        "security probe: no secret in the services' logs",
        f"{len(logs['lines_with_a_secret'])} of {logs['lines']} lines",
        not logs["lines_with_a_secret"],
    )
    rss, canary = found["ingest_rss_mb"], found["canary_ms"]
    add(
        "security probe: ingest RSS before / peak / after, canary latency (no goal)",
        f"{rss['before']:g} / {rss['peak']:g} / {rss['after']:g} MB; canaries p50 "
        f"{canary['p50']:g} ms, p99 {canary['p99']:g} ms ({canary['count']})",
        None,
    )


def table(rows: list[dict[str, Any]]) -> str:
    mark = {True: "met", False: "MISSED", None: "—"}
    lines = ["| goal | measured | |", "|---|---|---|"]
    lines += [f"| {row['goal']} | {row['figure']} | {mark[row['met']]} |" for row in rows]
    return "\n".join(lines)


def startup_table(results: dict[str, Any]) -> str:
    lines = ["| service | start → /readyz 200 (s) |", "|---|---|"]
    if "startup_to_ready_seconds" in results.get("ingest", {}):
        values = results["ingest"]["startup_to_ready_seconds"]
        lines.append(f"| ingest | {', '.join(f'{v:.2f}' for v in values)} |")
    runs = results.get("ceiling", {}).get("runs", [])
    if runs:
        values = sorted(run["startup_to_ready_seconds"] for run in runs)
        lines.append(f"| crm_writer | {', '.join(f'{v:.2f}' for v in values)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    steps = [step.strip() for step in args.only.split(",") if step.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        print(f"unknown step(s): {', '.join(unknown)}; known: {', '.join(STEPS)}", file=sys.stderr)
        return 2
    chosen = options(args)
    about = machine()
    log(
        f"machine: {about['cores']} cores {about['cpu_model']}, {about['memory_gib']} GiB, "
        f"Python {about['python']}, RabbitMQ {about['rabbitmq']}"
    )
    started = time.monotonic()
    results = asyncio.run(run_steps(steps, chosen))
    rows = goals(results)
    report = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": about,
        "wall_seconds": round(time.monotonic() - started, 1),
        "goals": rows,
        "results": results,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(args.output, "wb") as output:
        output.write(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(table(rows))
    if "security" in results and "error" not in results["security"]:
        print()
        print(security_probe.table(results["security"]))
    startup = startup_table(results)
    if startup.count("\n") > 1:  # a row besides the header
        print()
        print(startup)
    print(f"\nfigures in {args.output} ({report['wall_seconds']:g} s)")
    failed = [step for step, found in results.items() if "error" in found]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
