"""`RequestPacer`: the client-side limit on an outside API's calls, never more than its budget.

Requests are spaced evenly (no initial burst): a leaky bucket of capacity one lets at most
``limit`` requests into any window of ``period_seconds``. A 429 that still happens pauses every
caller for the API's wait (or a default) before the next request. RD Station's limiter and
Clicksign's are this class with their own budgets.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

# APIs count requests as they arrive; jitter on the way can bunch two of ours together, so the
# spacing keeps a small margin below the budget.
SAFETY_MARGIN = 0.98


class RequestPacer:
    """Paces one process's requests; ``share`` divides the budget between replicas."""

    def __init__(self, limit: int, period_seconds: float, *, share: int = 1) -> None:
        if limit <= 0 or period_seconds <= 0:
            raise ValueError("the rate limit must be positive")
        self.per_period = limit / max(share, 1) * SAFETY_MARGIN
        self.period_seconds = period_seconds
        self._limiter = AsyncLimiter(1, period_seconds / self.per_period)
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
        """The API said 429: nobody in this process calls it again for ``seconds``."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
