"""The client-side limit on RD Station calls: never more than the token's budget per minute.

Requests are spaced evenly (no initial burst): a leaky bucket of capacity one lets at most
``per_minute`` requests into any 60-second window. A 429 that still happens pauses every caller
for RD's ``Retry-After`` (or a default) before the next request.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

# RD counts requests as they arrive; jitter on the way can bunch two of ours together, so the
# spacing keeps a small margin below the budget.
SAFETY_MARGIN = 0.98


class RdRateLimiter:
    """Paces RD requests for one process; ``share`` divides the token's budget between replicas."""

    def __init__(self, per_minute: int, *, share: int = 1) -> None:
        if per_minute <= 0:
            raise ValueError("the rate limit must be positive")
        self.per_minute = per_minute / max(share, 1) * SAFETY_MARGIN
        self._limiter = AsyncLimiter(1, 60.0 / self.per_minute)
        self._paused_until = 0.0
        self.waited_seconds = 0.0

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds spent waiting."""
        started = time.monotonic()
        # A pause can be extended while we sleep, so check again after each one.
        while (pause := self._paused_until - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(pause)
        await self._limiter.acquire()
        waited = time.monotonic() - started
        self.waited_seconds += waited
        return waited

    def pause(self, seconds: float) -> None:
        """RD said 429: nobody in this process calls again for ``seconds``."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
