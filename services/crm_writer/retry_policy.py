"""Retry or park: the one place that decides what a failed attempt becomes.

Retryable failures (RD 429/5xx/timeouts/connection errors, a bad token, a document lock held too
long, the store briefly unreachable) go to the next retry tier, with growing delays, until the
attempt count or the event's age runs out; then, and at once for anything RD rejected as invalid,
the event is parked with the reason.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.crm_writer.rdstation import RdStationError, RdStationRateLimited
from services.crm_writer.store import LockTimeout


@dataclass(frozen=True)
class Retry:
    delay_seconds: int
    reason: str


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
            return Park(reason) if isinstance(error, RdStationError) else None
        if attempts >= self.max_attempts:
            return Park(f"gave up after {attempts} attempts: {reason}")
        if (now - received_at).total_seconds() >= self.max_age_seconds:
            return Park(f"gave up after {self.max_age_seconds:g}s: {reason}")
        return Retry(self.delay_for(attempts, error), reason)

    def delay_for(self, attempts: int, error: BaseException) -> int:
        """Tier by attempt number, raised to cover RD's ``Retry-After`` when it sent one."""
        index = min(max(attempts - 1, 0), len(self.delays) - 1)
        wanted = (
            getattr(error, "retry_after", None) if isinstance(error, RdStationRateLimited) else None
        )
        if wanted:
            fitting = [delay for delay in self.delays if delay >= wanted]
            index = max(index, self.delays.index(fitting[0]) if fitting else len(self.delays) - 1)
        return self.delays[index]


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, RdStationError):
        return error.retryable
    return isinstance(
        error, LockTimeout | OSError | sqlite3.OperationalError | asyncpg.PostgresConnectionError
    )


def describe_failure(error: BaseException) -> str:
    if isinstance(error, RdStationError):
        return f"RD Station: {error}"
    if isinstance(error, LockTimeout):
        return f"document busy: {error}"
    return f"{type(error).__name__}: {error}"
