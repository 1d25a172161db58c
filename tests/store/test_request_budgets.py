"""The RD budget every replica shares through PostgreSQL: three stores (three pools, as three
replicas) drawing from one row, pauses seen by all, and what happens when the store is gone."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from services.crm_writer.shared_budget import (
    BudgetRow,
    BudgetUnavailable,
    SharedRequestPacer,
    book,
    budget_key,
    pause_budget,
)
from services.crm_writer.store.postgres import (
    BOOK_REQUEST_SLOT,
    PAUSE_REQUEST_BUDGET,
    PostgresStore,
)
from tests.plugins.stores import postgres_through_proxy
from tests.unit.test_shared_budget import busiest_window

KEY = budget_key("rd", "sandbox-token")
GUARD_SECONDS = 30.0  # only against a hang; no test measures its own speed


@pytest_asyncio.fixture
async def replicas(postgres_store_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three stores on one database: three pools, as three crm_writer replicas would have."""
    stores = [PostgresStore(postgres_store_url, pool_size=2) for _ in range(3)]
    for store in stores:
        await store.open()
    yield stores
    for store in stores:
        await store.close()


# -- the statements compute what the pure functions compute ------------------------------------


@pytest.mark.parametrize(
    ("next_at", "paused_until"),
    [(-30.0, -60.0), (2.5, -60.0), (2.5, 7.0), (9.0, 7.0), (0.0, 0.0)],
)
async def test_the_booking_statement_books_the_slot_book_computes(
    replicas: list[PostgresStore], postgres_store_url: str, next_at: float, paused_until: float
) -> None:
    interval = 0.49
    expected = book(BudgetRow(next_at, paused_until), now=0.0, interval=interval)

    connection = await asyncpg.connect(postgres_store_url)
    try:
        # One transaction: now() is one instant, the "0.0" of the row's times.
        async with connection.transaction():
            await set_row(connection, next_at, paused_until)
            wait = await connection.fetchval(BOOK_REQUEST_SLOT, KEY, interval)
            after = await read_row(connection)
    finally:
        await connection.close()

    assert wait == pytest.approx(expected.slot, abs=1e-6)
    assert after == pytest.approx((expected.row.next_at, expected.row.paused_until), abs=1e-6)


async def test_the_first_booking_creates_the_row_as_book_does(
    replicas: list[PostgresStore], postgres_store_url: str
) -> None:
    expected = book(None, now=0.0, interval=0.5)
    connection = await asyncpg.connect(postgres_store_url)
    try:
        async with connection.transaction():
            wait = await connection.fetchval(BOOK_REQUEST_SLOT, KEY, 0.5)
            after = await read_row(connection)
    finally:
        await connection.close()

    assert wait == pytest.approx(expected.slot)
    assert after == pytest.approx((expected.row.next_at, expected.row.paused_until))


@pytest.mark.parametrize(("paused_until", "seconds"), [(-60.0, 5.0), (30.0, 5.0)])
async def test_the_pause_statement_pauses_as_pause_budget_does(
    replicas: list[PostgresStore], postgres_store_url: str, paused_until: float, seconds: float
) -> None:
    expected = pause_budget(BudgetRow(3.0, paused_until), now=0.0, seconds=seconds)
    connection = await asyncpg.connect(postgres_store_url)
    try:
        async with connection.transaction():
            await set_row(connection, 3.0, paused_until)
            await connection.execute(PAUSE_REQUEST_BUDGET, KEY, seconds)
            after = await read_row(connection)
    finally:
        await connection.close()

    assert after == pytest.approx((expected.next_at, expected.paused_until), abs=1e-6)


async def set_row(connection: asyncpg.Connection, next_at: float, paused_until: float) -> None:
    await connection.execute(
        """
        INSERT INTO request_budgets (budget_key, next_at, paused_until)
        VALUES ($1, now() + $2::float8 * interval '1 second',
                now() + $3::float8 * interval '1 second')
        ON CONFLICT (budget_key) DO UPDATE SET
            next_at = excluded.next_at, paused_until = excluded.paused_until
        """,
        KEY,
        next_at,
        paused_until,
    )


async def read_row(connection: asyncpg.Connection) -> tuple[float, float]:
    row = await connection.fetchrow(
        """
        SELECT extract(epoch FROM next_at - now())::float8 AS next_at,
               extract(epoch FROM paused_until - now())::float8 AS paused_until
        FROM request_budgets WHERE budget_key = $1
        """,
        KEY,
    )
    assert row is not None
    return float(row["next_at"]), float(row["paused_until"])


# -- three replicas ----------------------------------------------------------------------------


async def test_three_replicas_drawing_at_once_never_exceed_the_budget_in_any_window(
    replicas: list[PostgresStore],
) -> None:
    """600 a minute is 100 per 10 s: 108 requests from three replicas (four callers each) must
    never put more than 100 in any 10-s window, even when the machine is too busy to wake every
    caller on time. Each replica's own budget would put all 108 in one."""
    per_minute, window = 600, 10.0
    limiters = [
        SharedRequestPacer(per_minute, 60.0, store, KEY, api="RD Station") for store in replicas
    ]
    sent: list[float] = []

    async def caller(limiter: SharedRequestPacer, requests: int) -> None:
        for _ in range(requests):
            await limiter.acquire()
            sent.append(time.monotonic())

    async with asyncio.timeout(GUARD_SECONDS):
        await asyncio.gather(*(caller(limiter, 9) for limiter in limiters for _ in range(4)))

    assert len(sent) == 108
    assert busiest_window(sorted(sent), window) <= per_minute * window / 60


async def test_a_pause_one_replica_asks_for_holds_every_replica(
    replicas: list[PostgresStore],
) -> None:
    first, second, third = (
        SharedRequestPacer(60_000, 60.0, store, KEY, api="RD Station") for store in replicas
    )

    first.pause(1.0)  # first's RD answered 429 with Retry-After: 1
    await first.settle()
    async with asyncio.timeout(GUARD_SECONDS):
        waited = await asyncio.gather(second.acquire(), third.acquire())

    assert min(waited) >= 0.5  # most of the second; without the shared pause, none of it


async def test_a_pause_after_a_replica_booked_its_slot_still_holds_that_request(
    replicas: list[PostgresStore],
) -> None:
    """The second replica's next slot is two seconds away when the first replica sees a 429 with
    Retry-After: 3; the booked request must wait for the pause, not go in the middle of it."""
    first, second = (
        SharedRequestPacer(30, 60.0, store, KEY, api="RD Station") for store in replicas[:2]
    )
    await second.acquire()  # now; the next slot is ~2 s later
    started = time.monotonic()
    booked = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.3)

    first.pause(3.0)
    await first.settle()
    async with asyncio.timeout(GUARD_SECONDS):
        await booked

    assert time.monotonic() - started >= 3.2


async def test_a_replica_that_dies_with_booked_slots_does_not_keep_the_budget(
    replicas: list[PostgresStore],
) -> None:
    """Nothing is leased: the dead replica's slots just pass, and the others carry on."""
    dying, survivor = (
        SharedRequestPacer(600, 60.0, store, KEY, api="RD Station") for store in replicas[:2]
    )
    booked = [asyncio.create_task(dying.acquire()) for _ in range(5)]
    await asyncio.sleep(0.05)
    for task in booked:
        task.cancel()
    await asyncio.gather(*booked, return_exceptions=True)
    await replicas[0].close()  # its connections are gone, without a word to the others

    async with asyncio.timeout(GUARD_SECONDS):
        for _ in range(3):
            await survivor.acquire()


async def test_a_replica_that_stalls_past_its_slots_does_not_send_them_all_at_once(
    replicas: list[PostgresStore],
) -> None:
    """Six requests booked 0.1 s apart, then the process stalls for 0.6 s (a blocked event loop,
    a starved CPU): the overdue ones book again rather than leave together."""
    limiter = SharedRequestPacer(600, 60.0, replicas[0], KEY, api="RD Station")
    sent: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        sent.append(time.monotonic())

    async with asyncio.timeout(GUARD_SECONDS):
        callers = [asyncio.create_task(request()) for _ in range(6)]
        await asyncio.sleep(0.05)  # all booked, the first one sent
        time.sleep(0.6)  # the stall under test
        await asyncio.gather(*callers)

    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(sent))]
    assert min(gaps) >= 0.4 * limiter.interval


# -- the store down ----------------------------------------------------------------------------


async def test_a_store_that_does_not_answer_stops_the_request_with_a_retryable_error(
    postgres_store_url: str,
) -> None:
    async with postgres_through_proxy(postgres_store_url) as (proxied, proxy):
        store = PostgresStore(proxied, pool_size=1)
        await store.open()
        limiter = SharedRequestPacer(60_000, 60.0, store, KEY, api="RD Station")
        try:
            await limiter.acquire()
            proxy.refuse()
            proxy.cut()

            with pytest.raises(BudgetUnavailable) as raised:
                await limiter.acquire()
        finally:
            await store.close()

    assert raised.value.retryable
    assert "shared RD Station request budget" in str(raised.value)
