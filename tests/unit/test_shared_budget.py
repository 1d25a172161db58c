"""The shared RD budget's arithmetic: which slot a request gets, given the row and the time."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from services.crm_writer.shared_budget import (
    LATENESS_FLOOR_SECONDS,
    MAX_BOOKINGS,
    BudgetRow,
    BudgetUnavailable,
    SharedRequestPacer,
    book,
    budget_key,
    pause_budget,
)

INTERVAL = 0.5  # RD's 120 per minute


def test_the_first_request_goes_at_once() -> None:
    booking = book(None, now=100.0, interval=INTERVAL)

    assert booking.slot == 100.0
    assert booking.row == BudgetRow(next_at=100.5, paused_until=100.0)


def test_a_request_after_an_idle_spell_goes_at_once_and_earns_no_credit() -> None:
    idle = BudgetRow(next_at=10.0, paused_until=0.0)

    first = book(idle, now=100.0, interval=INTERVAL)
    second = book(first.row, now=100.0, interval=INTERVAL)

    assert first.slot == 100.0
    assert second.slot == 100.5  # no burst: the idle minute was not saved up


def test_requests_asking_together_queue_one_interval_apart() -> None:
    row = BudgetRow(next_at=0.0, paused_until=0.0)
    slots = []
    for _ in range(4):
        booking = book(row, now=100.0, interval=INTERVAL)
        slots.append(booking.slot)
        row = booking.row

    assert slots == [100.0, 100.5, 101.0, 101.5]


def test_a_pause_puts_the_next_slot_after_it() -> None:
    row = pause_budget(BudgetRow(next_at=100.5, paused_until=0.0), now=100.0, seconds=5.0)

    assert book(row, now=101.0, interval=INTERVAL).slot == 105.0


def test_a_shorter_pause_does_not_shorten_a_longer_one() -> None:
    row = pause_budget(BudgetRow(next_at=0.0, paused_until=130.0), now=100.0, seconds=5.0)

    assert row.paused_until == 130.0


def test_slots_booked_before_a_pause_keep_the_queue_behind_it() -> None:
    queued = BudgetRow(next_at=110.0, paused_until=0.0)

    row = pause_budget(queued, now=100.0, seconds=5.0)

    assert book(row, now=100.0, interval=INTERVAL).slot == 110.0


@pytest.mark.parametrize("per_minute", [120, 600])
def test_replicas_asking_at_random_never_exceed_the_budget_in_any_minute(per_minute: int) -> None:
    """Three replicas, each asking whenever its previous request was granted (or later), over ten
    minutes of simulated time: the grants of all three fit the budget in every 60-s window."""
    interval = 60.0 / (per_minute * 0.98)
    rng = random.Random(16)
    row: BudgetRow | None = None
    asks = [0.0, 0.0, 0.0]
    grants: list[float] = []
    while min(asks) < 600.0:
        replica = min(range(3), key=lambda index: asks[index])
        booking = book(row, asks[replica], interval)
        row = booking.row
        grants.append(booking.slot)
        asks[replica] = booking.slot + rng.choice([0.0, 0.0, rng.uniform(0, 3 * interval)])

    assert busiest_window(sorted(grants), 60.0) <= per_minute
    assert len(grants) >= 0.9 * per_minute * 10  # and the budget was used, not starved


def busiest_window(times: list[float], window: float) -> int:
    busiest, left = 0, 0
    for right, moment in enumerate(times):
        while times[left] <= moment - window:
            left += 1
        busiest = max(busiest, right - left + 1)
    return busiest


def test_gaps_between_grants_are_never_shorter_than_the_interval() -> None:
    row: BudgetRow | None = None
    slots = []
    for now in (0.0, 0.1, 0.1, 3.0, 3.2, 3.2, 3.2):
        booking = book(row, now, INTERVAL)
        row = booking.row
        slots.append(booking.slot)

    assert min(later - earlier for earlier, later in itertools.pairwise(slots)) >= INTERVAL


PINNED_SANDBOX_KEY = "rd:a1f3921c0eaa163e"


def test_the_budget_key_is_stable_and_never_the_token() -> None:
    token = "c0ffee-real-token-1234"

    assert budget_key("rd", token) == budget_key("rd", token)
    assert budget_key("rd", token) != budget_key("rd", "another-token")
    assert budget_key("rd", token) != budget_key("clicksign", token)
    assert token not in budget_key("rd", token)
    # pinned: every replica must find one row
    assert budget_key("rd", "sandbox-token") == PINNED_SANDBOX_KEY


class SlowStore:
    """Answers every booking with "now", but only after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.bookings = 0

    async def book_request_slot(self, budget_key: str, interval_seconds: float) -> float:
        self.bookings += 1
        await asyncio.sleep(self.delay)
        return 0.0

    async def pause_request_budget(self, budget_key: str, seconds: float) -> None:
        return None

    async def request_budget_paused_for(self, budget_key: str) -> float:
        return 0.0


async def test_a_store_too_slow_to_keep_slots_stops_the_request_after_a_few_bookings() -> None:
    """Every answer comes after the slot it gives has passed by more than the lateness allowed
    (here the 50-ms floor): the request is not sent late; after `MAX_BOOKINGS` it fails,
    retryable."""
    store = SlowStore(delay=LATENESS_FLOOR_SECONDS + 0.03)
    limiter = SharedRequestPacer(
        60_000, 60.0, store, "key", api="RD Station"
    )  # an interval of 1 ms

    with pytest.raises(BudgetUnavailable, match="too slow") as raised:
        await limiter.acquire()

    assert store.bookings == MAX_BOOKINGS
    assert raised.value.retryable


async def test_at_a_high_rate_a_round_trip_of_a_few_milliseconds_is_not_lateness() -> None:
    # Half of a 1-ms interval is shorter than any round trip to a real store: without a floor,
    # every booking would count as late and the request would never go.
    store = SlowStore(delay=0.005)
    limiter = SharedRequestPacer(60_000, 60.0, store, "key", api="RD Station")

    await limiter.acquire()

    assert store.bookings == 1


async def test_a_store_that_answers_in_time_lets_the_request_go() -> None:
    store = SlowStore(delay=0.0)
    limiter = SharedRequestPacer(60, 60.0, store, "key", api="RD Station")

    await limiter.acquire()

    assert store.bookings == 1


class LateStatementStore:
    """The real booking arithmetic on a "database clock" (this process's monotonic clock, so
    the test can compare), with the statement running ``delay`` seconds after it is asked
    for: a busy pool, a row lock, a slow network on the way in."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.row: BudgetRow | None = None
        self.slots: list[float] = []

    async def book_request_slot(self, budget_key: str, interval_seconds: float) -> float:
        await asyncio.sleep(self.delay)
        now = asyncio.get_running_loop().time()
        booking = book(self.row, now, interval_seconds)
        self.row = booking.row
        self.slots.append(booking.slot)
        return max(booking.slot - now, 0.0)

    async def pause_request_budget(self, budget_key: str, seconds: float) -> None:
        return None

    async def request_budget_paused_for(self, budget_key: str) -> float:
        return 0.0


async def test_no_request_leaves_before_its_slot_when_the_booking_statement_runs_late() -> None:
    # The statement's "now" is later than the moment the replica asked: a replica that counted
    # the wait from its asking would leave that much early, and crowd a window past the budget.
    store = LateStatementStore(delay=0.05)
    limiter = SharedRequestPacer(240, 60.0, store, "key", api="RD Station")  # 0.26 s apart
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        sent.append(loop.time())

    await asyncio.gather(*(request() for _ in range(4)))

    # Each request has a slot of its own (a slot given up when late is never used), so the
    # n-th request to leave cannot leave before the n-th slot booked.
    assert len(sent) == 4
    for slot, left in zip(sorted(store.slots), sorted(sent), strict=False):
        assert left >= slot
