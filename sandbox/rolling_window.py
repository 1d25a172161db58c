"""A request budget: N requests per token in any rolling window (RD v1: 120 per 60 s;
Clicksign: 20 per 10 s in its sandbox), shared by the sandbox's RD and Clicksign APIs."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after_seconds: int | None = None


class RollingWindowLimiter:
    """Counts a request when it arrives, refused or not, so a client that keeps hammering while
    limited stays limited; the window holds arrivals newer than ``now - window``."""

    def __init__(
        self,
        limit: int | None,
        window_seconds: float,
        *,
        send_retry_after: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.send_retry_after = send_retry_after
        self._clock = clock
        self._arrivals: dict[str, deque[float]] = {}

    def configure(
        self, limit: int | None, window_seconds: float, send_retry_after: bool | None = None
    ) -> None:
        self.limit, self.window_seconds = limit, window_seconds
        if send_retry_after is not None:
            self.send_retry_after = send_retry_after

    def admit(self, token: str, arrived_at: float | None = None) -> Admission:
        now = self._clock() if arrived_at is None else arrived_at
        arrivals = self._arrivals.setdefault(token, deque())
        while arrivals and arrivals[0] <= now - self.window_seconds:
            arrivals.popleft()
        arrivals.append(now)
        if self.limit is None or len(arrivals) <= self.limit:
            return Admission(allowed=True)
        return Admission(allowed=False, retry_after_seconds=self._retry_after(arrivals, now))

    def used(self, token: str) -> int:
        now = self._clock()
        return sum(
            1 for arrival in self._arrivals.get(token, ()) if arrival > now - self.window_seconds
        )

    def reset(self) -> None:
        self._arrivals.clear()

    def _retry_after(self, arrivals: deque[float], now: float) -> int | None:
        if not self.send_retry_after or self.limit is None:
            return None
        # A new request is admitted once enough arrivals have aged out to leave room for it.
        blocking = arrivals[len(arrivals) - self.limit]
        return max(1, math.ceil(blocking + self.window_seconds - now))
