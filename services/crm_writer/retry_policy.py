"""Retry or park: the one place that decides what a failed attempt becomes.

Retryable failures (RD or Clicksign 5xx/timeouts/connection errors, a bad RD token, a document
lock held too long, the store briefly unreachable) go to the next retry tier, with growing delays,
until the attempt count or the event's age runs out; then, and at once for anything an API
rejected as invalid, the event is parked with the reason. A 429 is not a failure: the client has
already waited in place for the API's window; if the budget is still spent the event waits in the
tier that covers the API's ``Retry-After`` (or the first), without counting an attempt, so a few
429s never push an event into the long tiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.crm_writer.api_errors import ApiError, ApiRateLimited
from services.crm_writer.rdstation import RdStationError
from services.crm_writer.store import LockTimeout, StoreUnavailable


@dataclass(frozen=True)
class Retry:
    delay_seconds: int
    reason: str
    # False for a rate limit: the wait does not use up the event's attempts.
    counts_as_attempt: bool = True


@dataclass(frozen=True)
class Park:
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """``delays`` are the retry tiers (the retry queues' TTLs), shortest first."""

    delays: tuple[int, ...]
    max_attempts: int
    max_age_seconds: float

    def decide(
        self, error: BaseException, attempts: int, received_at: datetime, now: datetime
    ) -> Retry | Park | None:
        """What to do after attempt number ``attempts`` failed with ``error``.

        None means the error is not understood (a bug): the caller hands the message back to the
        broker, whose delivery limit parks it if it keeps failing.
        """
        reason = describe_failure(error)
        if not is_retryable(error):
            return Park(reason) if isinstance(error, ApiError) else None
        if (now - received_at).total_seconds() >= self.max_age_seconds:
            return Park(f"gave up after {self.max_age_seconds:g}s: {reason}")
        if isinstance(error, ApiRateLimited):
            return Retry(self.tier_covering(error.retry_after), reason, counts_as_attempt=False)
        if attempts >= self.max_attempts:
            return Park(f"gave up after {attempts} attempts: {reason}")
        return Retry(self.delay_for(attempts), reason)

    def delay_for(self, attempts: int) -> int:
        """The tier of attempt number ``attempts``: each failure waits longer."""
        return self.delays[min(max(attempts - 1, 0), len(self.delays) - 1)]

    def tier_covering(self, seconds: float | None) -> int:
        """The shortest tier that waits at least ``seconds`` (the first one when unknown)."""
        fitting = [delay for delay in self.delays if delay >= (seconds or 0)]
        return fitting[0] if fitting else self.delays[-1]


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, ApiError):
        return error.retryable
    # OSError: a connection or file problem outside the store (the store says StoreUnavailable).
    return isinstance(error, LockTimeout | StoreUnavailable | OSError)


def describe_failure(error: BaseException) -> str:
    if isinstance(error, RdStationError):
        return f"RD Station: {error}"
    if isinstance(error, ApiError):  # other APIs' errors name their API ("Clicksign …")
        return str(error)
    if isinstance(error, LockTimeout):
        return f"document busy: {error}"
    return f"{type(error).__name__}: {error}"
