"""The client-side limit on RD Station calls: never more than the token's budget per minute.

A `RequestPacer` over 60 seconds: at most ``per_minute`` requests into any minute, spaced evenly;
a 429 that still happens pauses every caller for RD's ``Retry-After`` (or a default).
"""

from __future__ import annotations

from services.crm_writer.pacing import SAFETY_MARGIN, RequestPacer

__all__ = ["SAFETY_MARGIN", "RdRateLimiter"]


class RdRateLimiter(RequestPacer):
    """Paces RD requests for one process; ``share`` divides the token's budget between replicas."""

    def __init__(self, per_minute: int, *, share: int = 1) -> None:
        super().__init__(per_minute, 60.0, share=share)
        self.per_minute = self.per_period
