"""An aiohttp load generator, run in its own process; prints one JSON summary on stdout.

Closed loop (``--count N --concurrency C``): C connections, each sending its next request as soon
as the previous answer arrived; throughput is N over the wall time.

Open loop (``--rate R --duration D``): request i is due at ``start + i/R`` and sent then whatever
is still in flight; latency counts from when it was due, so a stall is not hidden (no
coordinated omission).

Bodies are distinct signed ``sign`` webhooks (`bench.common.webhook`), built before
the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson

from bench.common import percentile, webhook


def summary(
    latencies: list[float], statuses: Counter[str], seconds: float, sent: int
) -> dict[str, Any]:
    ms = [value * 1000 for value in latencies]
    ok = sum(count for status, count in statuses.items() if status in {"200", "202"})
    return {
        "requests": sent,
        "ok": ok,
        "statuses": dict(statuses),
        "seconds": round(seconds, 3),
        "requests_per_second": round(ok / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms, default=0.0), 2),
    }


async def _send(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> str:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return str(response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def closed_loop(
    url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int, warmup: int
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = requests[:warmup]
        for start in range(0, len(warm), concurrency):
            await asyncio.gather(
                *(_send(session, url, *item) for item in warm[start : start + concurrency])
            )
        measured = requests[warmup:]
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        position = 0

        async def worker() -> None:
            nonlocal position
            while position < len(measured):
                body, headers = measured[position]
                position += 1
                sent = time.perf_counter()
                status = await _send(session, url, body, headers)
                latencies.append(time.perf_counter() - sent)
                statuses[status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"mode": "closed", "concurrency": concurrency} | summary(
        latencies, statuses, seconds, len(measured)
    )


async def open_loop(
    url: str, requests: list[tuple[bytes, dict[str, str]]], rate: float, warmup: int
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=1000)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for start in range(0, warmup, 16):
            await asyncio.gather(
                *(_send(session, url, *item) for item in requests[start : start + 16])
            )
        measured = requests[warmup:]
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        late: list[float] = []
        loop = asyncio.get_running_loop()

        async def one(body: bytes, headers: dict[str, str], due: float) -> None:
            status = await _send(session, url, body, headers)
            latencies.append(loop.time() - due)
            statuses[status] += 1

        tasks = []
        started = loop.time()
        for index, (body, headers) in enumerate(measured):
            due = started + index / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late.append(-delay)
            tasks.append(asyncio.create_task(one(body, headers, due)))
        await asyncio.gather(*tasks)
        seconds = loop.time() - started
    result = {"mode": "open", "target_rate": rate} | summary(
        latencies, statuses, seconds, len(measured)
    )
    result["sender_late_p99_ms"] = round(percentile([value * 1000 for value in late], 99), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--run", required=True, help="names the webhooks' documents")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, help="open loop at this many requests/s")
    parser.add_argument("--duration", type=float, default=10.0, help="open loop seconds")
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    count = int(args.rate * args.duration) if args.rate else args.count
    requests = [webhook(index, args.run) for index in range(count + args.warmup)]
    if args.rate:
        result = asyncio.run(open_loop(args.url, requests, args.rate, args.warmup))
    else:
        result = asyncio.run(closed_loop(args.url, requests, args.concurrency, args.warmup))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
