from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from services.crm_writer.rdstation import RdRateLimiter


async def acquire_times(limiter: RdRateLimiter, count: int) -> list[float]:
    stamps: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        stamps.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(stamps)


async def test_requests_are_spaced_with_no_initial_burst() -> None:
    limiter = RdRateLimiter(1200)  # one request every 50 ms, concurrent callers included
    stamps = await acquire_times(limiter, 6)
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.045


async def test_a_429_pauses_every_caller() -> None:
    limiter = RdRateLimiter(60_000)
    limiter.pause(0.2)
    started = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - started >= 0.19


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RdRateLimiter(0)
