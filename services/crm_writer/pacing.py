"""`RequestPacer`: the client-side limit on an outside API's calls, never more than its budget.

Requests are spaced evenly (no initial burst): a leaky bucket of capacity one lets at most
``limit`` requests into any window of ``period_seconds``. A 429 that still happens pauses every
caller for the API's wait (or a default) before the next request. RD Station's limiter and
Clicksign's are this class with their own budgets.
"""

from __future__ import annotations

import asyncio
import functools
import time

from aiolimiter import AsyncLimiter

# APIs count requests as they arrive; jitter on the way can bunch two of ours together, so the
# spacing keeps a small margin below the budget.
SAFETY_MARGIN = 0.98


class RequestPacer:
    """Paces one process's requests at the whole budget; subclasses keep the budget elsewhere
    (`services.crm_writer.shared_budget`) by replacing `_take_slot`."""

    def __init__(self, limit: int, period_seconds: float) -> None:
        if limit <= 0 or period_seconds <= 0:
            raise ValueError("the rate limit must be positive")
        self.per_period = limit * SAFETY_MARGIN
        self.period_seconds = period_seconds
        # Seconds between two requests.
        self.interval = period_seconds / self.per_period
        self._paused_until = 0.0
        self.waited_seconds = 0.0

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds spent waiting."""
        started = time.monotonic()
        await self._take_slot()
        waited = time.monotonic() - started
        self.waited_seconds += waited
        return waited

    def pause(self, seconds: float) -> None:
        """The API said 429: nobody in this process calls it again for ``seconds``."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def settle(self) -> None:
        """Wait for work the pacer still does in the background (none here)."""

    async def _take_slot(self) -> None:
        await self._until_unpaused()
        await self._bucket.acquire()

    async def _until_unpaused(self) -> None:
        # A pause can be extended while we sleep, so check again after each one.
        while (pause := self._paused_until - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(pause)

    @functools.cached_property
    def _bucket(self) -> AsyncLimiter:
        return AsyncLimiter(1, self.interval)
