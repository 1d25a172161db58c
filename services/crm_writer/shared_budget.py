"""One request budget per outside API for every crm_writer replica, kept in the PostgreSQL store.

RD allows a number of requests per minute per *token*, Clicksign per *account* every ten seconds,
however many replicas share them, so each budget lives in one row of the store
(``request_budgets``, one per API and token fingerprint) that every replica books its requests
from. The row holds two times, on the database's clock:

- ``next_at``: the earliest moment the next request may go. Booking a request gives it the slot
  ``max(now, next_at, paused_until)`` and moves ``next_at`` one interval past that slot (`book`),
  so requests are spaced evenly, with no burst after an idle spell, exactly like the local
  limiter's leaky bucket of one, at the same `SAFETY_MARGIN`.
- ``paused_until``: a 429 seen by any replica sets it (`pause_budget`), and every replica books
  its next slots after it. A request booked earlier asks again just before its slot
  (`PAUSE_CHECK_LEAD_SECONDS`) and, if paused, books a new slot after the pause. A request
  never leaves before its slot, and one that would leave more than half an interval (at least
  50 ms) after it books again instead (`LATENESS_TOLERANCE`, `LATENESS_FLOOR_SECONDS`), so that a
  stalled replica's overdue requests do not all go at once.

The booking is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement (`BudgetStore`): one
round trip, atomic, and the row is locked only while PostgreSQL runs that statement. The other
way measured, an advisory lock around read-compute-write, took four round trips (0.9 ms against
0.5 ms uncontended; 1,300 against 2,600 grants/s with 3 replicas of 4 callers each, on 2 cores) and,
worse, a replica stalled between its round trips would hold every other replica up until its
connection died. Both are far above RD's 2 requests/s; robustness decided.

Nothing is leased: a slot is a moment, and a replica that dies after booking one just leaves it
unused. Times come from the database, so the replicas' own clocks never need to agree: the store
answers "wait this many seconds", and the replica sleeps that long.

When the store does not answer, the request is not made: `BudgetUnavailable` is retryable, so
the event goes to a retry tier. Falling back to a local budget would need the replica count that
this design removes, and an event cannot make progress without the store anyway (its lock and its
history live there).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

from services.crm_writer.api_errors import ApiError
from services.crm_writer.pacing import RequestPacer
from shared.logging import get_logger

log = get_logger()


# A booked request asks the store whether a 429 paused the budget meanwhile this long before its
# slot, so that the question's round trip never delays the request itself: a late request would
# bunch up with the next ones, which keep their slots (only a pause recorded in these last
# moments is missed).
PAUSE_CHECK_LEAD_SECONDS = 0.1
# Slots stay where they were booked, so a request that leaves late would crowd the next ones,
# which leave on time: after a stall (a busy CPU, a slow answer from the store) every overdue
# request would go at once. One later than this share of the interval (counting the booking's
# round trip, which hides when the slot really was) gives its slot up and books again: a store
# whose round trips take longer than that costs slots (never the budget) and, after
# `MAX_BOOKINGS`, a retry of the event. Half an interval keeps any 60-s window within the
# budget from 75 a minute up (0.98 budget + 1.5 <= budget); the local limiter never lends
# credit after a stall either.
LATENESS_TOLERANCE = 0.5
# ...but never less than this: above 600 requests a minute half an interval is shorter than a
# round trip to the store, which the lateness includes. 50 ms late adds 0.05 / interval requests
# to a window, under the 2% margin for every budget the half interval is safe for.
LATENESS_FLOOR_SECONDS = 0.05
# A request that misses its slot this many times in a row fails as BudgetUnavailable (retried).
MAX_BOOKINGS = 10


class BudgetStore(Protocol):
    """What the shared limiter needs from the store (`PostgresStore` provides it)."""

    async def book_request_slot(self, budget_key: str, interval_seconds: float) -> float:
        """Book the next slot of the budget (`book`, on the database's clock); the seconds from
        now until it, 0 when it is now."""

    async def pause_request_budget(self, budget_key: str, seconds: float) -> None:
        """No replica's slot starts before ``seconds`` from now (`pause_budget`)."""

    async def request_budget_paused_for(self, budget_key: str) -> float:
        """Seconds the budget stays paused; 0 when it is not."""


class BudgetUnavailable(ApiError):
    """The store that holds a shared request budget did not answer: the request is not made."""

    retryable = True


@dataclass(frozen=True)
class BudgetRow:
    """The shared budget's state: times in seconds on the database's clock."""

    next_at: float
    paused_until: float


@dataclass(frozen=True)
class Booking:
    slot: float
    row: BudgetRow


def book(row: BudgetRow | None, now: float, interval: float) -> Booking:
    """The slot a request asking at ``now`` gets, and the row after it (None: no row yet).

    The store's ``book_request_slot`` statement computes exactly this; tests hold the two together.
    """
    if row is None:
        return Booking(now, BudgetRow(now + interval, now))
    slot = max(now, row.next_at, row.paused_until)
    return Booking(slot, BudgetRow(slot + interval, row.paused_until))


def pause_budget(row: BudgetRow, now: float, seconds: float) -> BudgetRow:
    """The row after a 429 at ``now`` asked every replica to wait ``seconds``."""
    return BudgetRow(row.next_at, max(row.paused_until, now + seconds))


def budget_key(api: str, token: str) -> str:
    """Which row an API token's budget lives in: a fingerprint, so the token is never stored."""
    digest = hashlib.blake2b(token.encode(), digest_size=8, person=b"signdeal-budget")
    return f"{api}:{digest.hexdigest()}"


class SharedRequestPacer(RequestPacer):
    """Paces one API's requests across every replica sharing ``store`` (``limit`` requests per
    ``period_seconds``); ``acquire`` raises `BudgetUnavailable` when the store cannot book."""

    def __init__(
        self, limit: int, period_seconds: float, store: BudgetStore, key: str, *, api: str
    ) -> None:
        super().__init__(limit, period_seconds)
        self.per_minute = self.per_period * 60.0 / period_seconds
        self.api = api
        self._store = store
        self._key = key
        self._sharing: set[asyncio.Task[None]] = set()
        self._tolerance = max(self.interval * LATENESS_TOLERANCE, LATENESS_FLOOR_SECONDS)

    def pause(self, seconds: float) -> None:
        """The API said 429: this process waits at once, every replica once the store has it."""
        super().pause(seconds)
        task = asyncio.get_running_loop().create_task(self._share_pause(seconds))
        self._sharing.add(task)
        task.add_done_callback(self._sharing.discard)

    async def settle(self) -> None:
        """Wait until the pauses asked for have reached the store (or failed to)."""
        if self._sharing:
            await asyncio.gather(*self._sharing)

    async def _take_slot(self) -> None:
        for _ in range(MAX_BOOKINGS):
            await self._until_unpaused()
            asked = time.monotonic()
            wait = await self._book()
            # The statement ran, on the database's clock, somewhere between asking and the
            # answer: on this process's clock the slot lies in [asked + wait, answered + wait].
            # The request leaves at the latest of those (never before its slot, whatever the
            # round trip), and is judged late from the earliest (a slow round trip counts as
            # lateness: it is what the slot's true moment cannot be told from).
            earliest, slot = asked + wait, time.monotonic() + wait
            if slot - time.monotonic() > PAUSE_CHECK_LEAD_SECONDS:
                await asyncio.sleep(slot - time.monotonic() - PAUSE_CHECK_LEAD_SECONDS)
                if await self._paused_meanwhile():
                    continue  # someone's 429 came after the booking: a new slot after the pause
            await asyncio.sleep(max(0.0, slot - time.monotonic()))
            if time.monotonic() - earliest <= self._tolerance:
                return
            # Too late (a stalled process, a slow answer): the next slots are someone else's.
        raise BudgetUnavailable(
            f"no request could leave on time for its slot in {MAX_BOOKINGS} bookings: "
            f"this process or the store is too slow to pace {self.api} requests"
        )

    async def _book(self) -> float:
        try:
            return await self._store.book_request_slot(self._key, self.interval)
        except Exception as exc:  # whatever the driver raises, no request goes unbooked
            raise BudgetUnavailable(
                f"the shared {self.api} request budget could not be read from the store: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    async def _paused_meanwhile(self) -> bool:
        if self._paused_until > time.monotonic():
            return True
        try:
            return await self._store.request_budget_paused_for(self._key) > 0
        except Exception as exc:
            # The slot was booked; only a pause another replica recorded meanwhile could be
            # missed: the request goes, and a 429 it may get pauses this process like any other.
            log.warning("budget.check_failed", api=self.api, error=f"{type(exc).__name__}: {exc}")
            return False

    async def _share_pause(self, seconds: float) -> None:
        try:
            await self._store.pause_request_budget(self._key, seconds)
        except Exception as exc:
            log.warning(
                "budget.pause_not_shared",
                api=self.api,
                seconds=seconds,
                error=f"{type(exc).__name__}: {exc}",
            )
