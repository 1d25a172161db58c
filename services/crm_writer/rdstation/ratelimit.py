"""The client-side limit on RD Station calls: never more than the token's budget per minute.

A `RequestPacer` over 60 seconds: at most ``per_minute`` requests into any minute, spaced evenly;
a 429 that still happens pauses every caller for RD's ``Retry-After`` (or a default).

`RdRateLimiter` keeps the budget in this process: right for one crm_writer (the SQLite store) and
the CLI. With PostgreSQL, `services.crm_writer.shared_budget.SharedRequestPacer` keeps
it in the store for every replica, behind the same interface.
"""

from __future__ import annotations

from services.crm_writer.pacing import SAFETY_MARGIN, RequestPacer

__all__ = ["SAFETY_MARGIN", "RdRateLimiter"]


class RdRateLimiter(RequestPacer):
    """Paces RD requests within one process, at the token's whole budget."""

    def __init__(self, per_minute: int) -> None:
        super().__init__(per_minute, 60.0)
        self.per_minute = self.per_period
