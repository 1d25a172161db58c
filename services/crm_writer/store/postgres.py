"""The PostgreSQL backend, for crm_writer replicas on several hosts.

Queries go through one asyncpg pool. Locks are session-level advisory locks, each on a
connection of a second pool, held for as long as the lock is: PostgreSQL releases them itself
when that connection ends, so a holder that dies frees its locks at once. Lock holders never
take the query pool's connections, so many held locks cannot starve the queries made inside them.

The store also keeps the RD request budget that every replica shares (``request_budgets``; see
`services.crm_writer.shared_budget`): one statement per booking, on the query pool.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.crm_writer.store.base import (
    LockTimeout,
    refused_when,
    unavailable,
    unavailable_when,
)
from services.crm_writer.store.locking import LocalQueues, poll_for_lock
from services.crm_writer.store.rows import Row, as_utc, storable_text
from services.crm_writer.store.schema import REQUEST_BUDGETS_TABLE, ColumnTypes, create_schema
from services.crm_writer.store.sql import SqlStore
from shared.logging import get_logger
from shared.pseudonyms import lock_label

log = get_logger()

_COLUMN_TYPES = ColumnTypes(
    "TIMESTAMPTZ",
    "JSONB",
    "SELECT column_name AS name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = $1",
    # Runs inside the schema transaction, where a failed statement would poison the rest.
    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {type}",
)

# What asyncpg raises when PostgreSQL cannot answer now (refused, lost, timed out).
_UNAVAILABLE = (asyncpg.PostgresConnectionError, OSError)

# The shared RD budget (`shared_budget.book`, `pause_budget`), on the database's clock: ``now()``
# is the statement's own transaction start, so each statement sees one instant.
BOOK_REQUEST_SLOT = """
    INSERT INTO request_budgets AS budget (budget_key, next_at, paused_until)
    VALUES ($1, now() + $2::float8 * interval '1 second', now())
    ON CONFLICT (budget_key) DO UPDATE SET
        next_at = GREATEST(budget.next_at, budget.paused_until, now())
            + $2::float8 * interval '1 second'
    RETURNING extract(epoch FROM budget.next_at - now())::float8 - $2::float8 AS wait
"""
PAUSE_REQUEST_BUDGET = """
    INSERT INTO request_budgets AS budget (budget_key, next_at, paused_until)
    VALUES ($1, now(), now() + $2::float8 * interval '1 second')
    ON CONFLICT (budget_key) DO UPDATE SET
        paused_until = GREATEST(budget.paused_until, excluded.paused_until)
"""
REQUEST_BUDGET_PAUSED_FOR = """
    SELECT greatest(extract(epoch FROM paused_until - now())::float8, 0) AS paused_for
    FROM request_budgets WHERE budget_key = $1
"""
# A budget statement waits at most this long: a request should not hang on a slow store.
_BUDGET_TIMEOUT = 5.0

# Even a lock asked for with a tiny timeout gets this long to find a free lock connection.
_CONNECTION_WAIT_FLOOR = 1.0
_CLOSE_TIMEOUT = 10.0


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (``hash()`` differs per process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"signdeal").digest()
    return int.from_bytes(digest, "big", signed=True)


_SCHEMA_KEY = advisory_key("signdeal.schema")


class PostgresStore(SqlStore):
    """``postgresql://user:pass@host/db``; ``pool_size`` connections for queries and up to
    ``lock_pool_size`` more, one per lock held at the same time."""

    json_append = "COALESCE({column}, '[]'::jsonb) || {value}::jsonb"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        lock_pool_size: int = 20,
        command_timeout: float = 30.0,
    ) -> None:
        if pool_size < 1 or lock_pool_size < 1:
            raise ValueError("pool_size and lock_pool_size must be at least 1")
        self.url = url
        self.pool_size = pool_size
        self.lock_pool_size = lock_pool_size
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._lock_pool: asyncpg.Pool | None = None
        self._local = LocalQueues()

    async def open(self) -> None:
        with refused_when(asyncpg.PostgresError), unavailable_when(*_UNAVAILABLE):
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size, command_timeout=self.command_timeout
            )
            try:
                self._lock_pool = await asyncpg.create_pool(
                    self.url, min_size=0, max_size=self.lock_pool_size
                )
                await self._create_schema()
            except BaseException:
                await self.close()
                raise

    async def _create_schema(self) -> None:
        assert self._pool is not None
        async with self._pool.acquire() as connection, connection.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_KEY)
            await create_schema(
                connection.fetch, _COLUMN_TYPES, datetime.now(UTC), REQUEST_BUDGETS_TABLE
            )

    async def close(self) -> None:
        pools = [pool for pool in (self._pool, self._lock_pool) if pool is not None]
        self._pool = self._lock_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), _CLOSE_TIMEOUT)
            except TimeoutError:
                pool.terminate()

    async def _fetch(self, query: str, *args: Any) -> Sequence[Row]:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL store is not open")
        storable = [storable_text(arg) if isinstance(arg, str) else arg for arg in args]
        with unavailable_when(*_UNAVAILABLE):
            rows: list[Row] = await self._pool.fetch(query, *storable)
        return rows

    def _timestamp(self, moment: datetime) -> object:
        return as_utc(moment)

    # -- the shared RD budget (`services.crm_writer.shared_budget.BudgetStore`) -----

    async def book_request_slot(self, budget_key: str, interval_seconds: float) -> float:
        wait = await self._budget_value(BOOK_REQUEST_SLOT, budget_key, interval_seconds)
        return max(float(wait), 0.0)

    async def pause_request_budget(self, budget_key: str, seconds: float) -> None:
        await self._budget_value(PAUSE_REQUEST_BUDGET, budget_key, seconds)

    async def request_budget_paused_for(self, budget_key: str) -> float:
        return float(await self._budget_value(REQUEST_BUDGET_PAUSED_FOR, budget_key) or 0.0)

    async def _budget_value(self, query: str, *args: Any) -> Any:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL store is not open")
        with unavailable_when(*_UNAVAILABLE):
            return await self._pool.fetchval(query, *args, timeout=_BUDGET_TIMEOUT)

    # -- locks --------------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, name: str, *, timeout: float = 60.0) -> AsyncIterator[None]:  # noqa: ASYNC109
        key = advisory_key(name)
        loop = asyncio.get_running_loop()
        async with self._local.first_in_line(name, within=timeout) as remaining:
            deadline = loop.time() + remaining
            async with self._lock_connection(name, remaining) as connection:
                await poll_for_lock(
                    functools.partial(_try_lock, connection, key),
                    name=name,
                    within=max(0.0, deadline - loop.time()),
                )
                try:
                    with _warn_if_lost(connection, name):
                        yield
                finally:
                    await _unlock(connection, key, name)

    @asynccontextmanager
    async def _lock_connection(self, name: str, within: float) -> AsyncIterator[Any]:
        if self._lock_pool is None:
            raise RuntimeError("the PostgreSQL store is not open")
        pool = self._lock_pool
        try:
            connection = await pool.acquire(timeout=max(within, _CONNECTION_WAIT_FLOOR))
        except TimeoutError as exc:
            raise LockTimeout(f"no lock connection came free for {lock_label(name)!r}") from exc
        except _UNAVAILABLE as exc:
            raise unavailable(exc) from exc
        try:
            yield connection
        finally:
            # Released connections are reset, which also drops any advisory lock a cancelled
            # attempt might have taken.
            await pool.release(connection)


@contextmanager
def _warn_if_lost(connection: Any, name: str) -> Iterator[None]:
    """A lock dies with its connection: if that happens while it is held, say so loudly."""

    def lost(_: object) -> None:
        log.error("lock.connection_lost", lock=lock_label(name))

    connection.add_termination_listener(lost)
    try:
        yield
    finally:
        # A dead connection has already been taken back by the pool, listener and all.
        with suppress(asyncpg.InterfaceError):
            connection.remove_termination_listener(lost)


async def _try_lock(connection: Any, key: int) -> bool:
    with unavailable_when(*_UNAVAILABLE):
        return bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def _unlock(connection: Any, key: int, name: str) -> None:
    try:
        await connection.execute("SELECT pg_advisory_unlock($1)", key)
    except Exception as exc:
        log.warning("lock.unlock_failed", lock=lock_label(name), error=str(exc))
        # Ending the session is the other way to give a session-level lock back; a connection
        # that already died has been taken back by the pool, and its locks went with it.
        with suppress(asyncpg.InterfaceError):
            connection.terminate()
