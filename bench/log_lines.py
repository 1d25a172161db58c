"""Benchmark 4: one log line's cost as its value grows, and a hostile path's (issue 14).

In process: `shared.logging` configured as the services configure it (JSON, then console), every
line written into a stream that throws the text away. The logged value is 100 B, 8 KiB or 1 MiB in
the shapes that matter: plain text (the fast path: neither ``=`` nor ``://``), text ending in
``://x`` (what the URL-password pattern looks at; issue 14's probe), ``k=v&…`` text (the token
pattern), a stdlib library line carrying the value as its argument (aiosqlite's and aiohttp's
debug lines do that), and an exception whose message is the value, logged with ``log.exception``.
Each figure is the median over rounds of lines, in µs per line. `redact_text` (the whole text,
for error messages outside logs) is timed on the ``://x`` shape as well.

Against a real ingest (broker, JSON at INFO, as in production): sequential unsigned requests to
``/a``, ``/aaa…`` (8,000 a) and ``/aaa…://x`` (the median ms per request: each is a 404
logged at INFO with its path), then signed webhooks sent one after the other with and without ten
clients sending the hostile path at 16 requests/s in all (the webhooks' median and p99).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from yarl import URL

from bench.common import (
    drop_topology,
    free_port,
    ingest_env,
    log,
    new_topology,
    percentile,
    services,
    webhook,
)
from bench.ingest import WEBHOOK_PATH
from shared.logging import configure_logging, get_logger, redact_text

SHAPES = ("text", "url", "query", "library", "exception")
FORMATS = ("json", "console")
HOSTILE_PATH_CHARS = 8_000  # aiohttp refuses request lines over 8,190 bytes


@dataclass(frozen=True)
class LogLineOptions:
    sizes: tuple[int, ...] = (100, 8_192, 1_048_576)
    shapes: tuple[str, ...] = SHAPES
    seconds_per_figure: float = 0.3
    rounds: int = 5
    requests: int = 50
    attack_seconds: float = 10.0
    attack_rate: float = 16.0
    attack_clients: int = 10


class _Discard:
    """A text stream that forgets what it is given (what is measured is the line, not the I/O)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def value_of(shape: str, size: int) -> str:
    if shape == "url":
        return "a" * max(size - 4, 0) + "://x"
    if shape == "query":
        return ("k=v&" * (size // 4 + 1))[:size]
    return "x" * size


def line_writer(shape: str, value: str) -> Callable[[], None]:
    """One call = one log line of this shape carrying ``value``."""
    ours = get_logger()
    library = logging.getLogger("bench.library")
    if shape == "library":
        return lambda: library.warning("executing %s", value)
    if shape == "exception":

        def failing() -> None:
            try:
                raise RuntimeError(value)
            except RuntimeError:
                ours.exception("bench.failed")

        return failing
    return lambda: ours.info("bench.line", path=value, method="GET", status=404)


def per_line_us(write: Callable[[], None], options: LogLineOptions) -> float:
    """Median over ``rounds`` of the mean time per line, with as many lines per round as fit in
    ``seconds_per_figure`` (at least one)."""
    started = time.perf_counter()
    write()
    first = time.perf_counter() - started
    per_round = max(1, int(options.seconds_per_figure / options.rounds / max(first, 1e-7)))
    rounds = []
    for _ in range(options.rounds if first < options.seconds_per_figure else 1):
        started = time.perf_counter()
        for _ in range(per_round):
            write()
        rounds.append((time.perf_counter() - started) / per_round)
    return round(statistics.median(rounds) * 1e6, 1)


def measure_lines(options: LogLineOptions) -> dict[str, Any]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    figures: dict[str, Any] = {}
    try:
        for log_format in FORMATS:
            configure_logging("ingest", "INFO", log_format, stream=_Discard())  # type: ignore[arg-type]
            figures[log_format] = {}
            for shape in options.shapes:
                figures[log_format][shape] = {}
                for size in options.sizes:
                    write = line_writer(shape, value_of(shape, size))
                    try:
                        figure: float | str = per_line_us(write, options)
                    except Exception as exc:  # a line that raises is a finding, not a figure
                        figure = f"raised {type(exc).__name__}"
                    figures[log_format][shape][str(size)] = figure
                    log(f"log line {log_format} {shape} {size:,} B: {figure} µs")
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
    whole: dict[str, float] = {}
    for size in options.sizes:
        value = value_of("url", size)
        whole[str(size)] = per_line_us(lambda value=value: _ignore(redact_text(value)), options)
        log(f"redact_text (whole text, not a log line) url {size:,} B: {whole[str(size)]} µs")
    return {"us_per_line": figures, "redact_text_url_us": whole, "sizes": list(options.sizes)}


def _ignore(_: object) -> None:
    pass


async def _timed_get(session: aiohttp.ClientSession, url: URL) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
    return (time.perf_counter() - started) * 1000


async def _webhooks(
    session: aiohttp.ClientSession, url: str, seconds: float, run: str
) -> list[float]:
    """Signed webhooks one after the other for ``seconds``; each one's time in ms."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    index = 0
    while time.monotonic() < deadline:
        body, headers = webhook(index, run)
        index += 1
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status != 202:
                raise RuntimeError(f"webhook answered {response.status}")
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _attacker(
    session: aiohttp.ClientSession, url: URL, interval: float, deadline: float
) -> int:
    sent = 0
    next_due = time.monotonic()
    while next_due < deadline:
        await asyncio.sleep(max(0.0, next_due - time.monotonic()))
        async with session.get(url) as response:
            await response.read()
        sent += 1
        next_due += interval
    return sent


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "count": len(times),
        "p50_ms": round(percentile(times, 50), 2),
        "p99_ms": round(percentile(times, 99), 2),
    }


async def measure_requests(options: LogLineOptions) -> dict[str, Any]:
    topology = new_topology("loglines")
    result: dict[str, Any] = {}
    try:
        async with services() as group:
            port = free_port()
            ingest = await group.start(
                "ingest", ["-m", "services.ingest"], ingest_env(topology, port), port
            )
            await ingest.wait_ready()
            base = URL(ingest.base_url)
            paths = {
                "short": "/a",
                "long": "/" + "a" * HOSTILE_PATH_CHARS,
                "long_with_scheme": "/" + "a" * HOSTILE_PATH_CHARS + "://x",
            }
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                medians = {}
                for name, path in paths.items():
                    url = base.with_path(path, encoded=True)
                    await _timed_get(session, url)
                    times = [await _timed_get(session, url) for _ in range(options.requests)]
                    medians[name] = round(statistics.median(times), 2)
                    log(f"ingest 404 {name} path ({len(path):,} chars): {medians[name]} ms")
                result["unsigned_404_median_ms"] = medians
                run = uuid.uuid4().hex
                hook_url = ingest.base_url + WEBHOOK_PATH
                quiet = await _webhooks(session, hook_url, options.attack_seconds, run + "q")
                hostile = base.with_path(paths["long_with_scheme"], encoded=True)
                deadline = time.monotonic() + options.attack_seconds
                interval = options.attack_clients / options.attack_rate
                attackers = [
                    asyncio.create_task(_attacker(session, hostile, interval, deadline))
                    for _ in range(options.attack_clients)
                ]
                attacked = await _webhooks(session, hook_url, options.attack_seconds, run + "a")
                sent = sum(await asyncio.gather(*attackers))
                result["webhooks"] = {
                    "alone": _summary(quiet),
                    "under_hostile_paths": _summary(attacked)
                    | {"hostile_requests": sent, "hostile_clients": options.attack_clients},
                }
                log(
                    f"signed webhooks alone p50 {result['webhooks']['alone']['p50_ms']} ms; with "
                    f"{sent} hostile requests from {options.attack_clients} clients p50 "
                    f"{result['webhooks']['under_hostile_paths']['p50_ms']} ms"
                )
    finally:
        await drop_topology(topology)
    return result


async def run(options: LogLineOptions) -> dict[str, Any]:
    # The in-process figures block the loop on purpose (nothing else runs meanwhile).
    result = measure_lines(options)
    result |= await measure_requests(options)
    return result
