"""The SQLite backend: one database file shared by the crm_writer processes of one host.

Each store keeps one aiosqlite connection in autocommit mode. aiosqlite runs calls one at a time
on its own thread, and every call made here is one whole statement (`execute_fetchall`), so
statements of concurrent coroutines can never interleave inside a transaction; other processes
are kept out by SQLite's own write lock, waited for up to ``busy_timeout``.

Locks are leases: a row per lock name with a unique holder id and an expiry, taken by one upsert
that only overwrites an expired row, renewed in the background while held, deleted on release.
A holder that dies stops renewing, and its lease can be taken over once it expires.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from services.crm_writer.store.base import refused_when, unavailable_when
from services.crm_writer.store.locking import LocalQueues, poll_for_lock
from services.crm_writer.store.rows import Row, iso_text, json_text, storable_text
from services.crm_writer.store.schema import ColumnTypes, create_schema
from services.crm_writer.store.sql import SqlStore
from shared.logging import get_logger
from shared.pseudonyms import lock_label

log = get_logger()

# INSERT … ON CONFLICT DO UPDATE … RETURNING
MIN_SQLITE_VERSION = (3, 35, 0)

_URL_PREFIX = "sqlite:///"

_LOCKS_TABLE = """
    CREATE TABLE IF NOT EXISTS locks (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )
"""

_TAKE_LEASE = """
    INSERT INTO locks (name, owner, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE locks.expires_at <= $4 OR signdeal_holder_is_gone(locks.owner)
    RETURNING owner
"""

_RENEW_LEASE = "UPDATE locks SET expires_at = $3 WHERE name = $1 AND owner = $2 RETURNING owner"

_RELEASE_LEASE = "DELETE FROM locks WHERE name = $1 AND owner = $2"


_COLUMN_TYPES = ColumnTypes("TEXT", "TEXT", "SELECT name FROM pragma_table_info($1)")

# What SQLite raises when it cannot answer now (locked, disk full or gone, file not openable).
_UNAVAILABLE = (sqlite3.OperationalError, OSError)


@dataclass(frozen=True)
class _Lease:
    name: str
    owner: str


class SqliteStore(SqlStore):
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.

    ``lock_ttl`` is how long a lease outlives a holder that died (renewed every third of it
    while the holder lives); ``busy_timeout`` how long a write waits for another process.
    """

    json_append = "signdeal_json_concat({column}, {value})"

    def __init__(self, url: str, *, lock_ttl: float = 30.0, busy_timeout: float = 10.0) -> None:
        if lock_ttl <= 0 or busy_timeout < 0:
            raise ValueError("lock_ttl must be positive and busy_timeout not negative")
        self.path = sqlite_path(url)
        self.lock_ttl = lock_ttl
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._local = LocalQueues()

    async def open(self) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old: the store needs 3.35+")
        with refused_when(sqlite3.Error), unavailable_when(*_UNAVAILABLE):
            await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
            db = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                await self._configure(db)
                self._db = db
                await create_schema(self._fetch, _COLUMN_TYPES, self._now(), _LOCKS_TABLE)
            except BaseException:
                self._db = None
                await db.close()
                raise

    async def _configure(self, db: aiosqlite.Connection) -> None:
        db.row_factory = aiosqlite.Row
        await db.execute_fetchall(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        mode = await self._enable_wal(db)
        if str(mode).lower() != "wal":
            log.warning("store.sqlite_without_wal", journal_mode=mode, path=str(self.path))
        await db.execute_fetchall("PRAGMA synchronous = NORMAL")
        await db.create_function("signdeal_json_concat", 2, _json_concat, deterministic=True)
        await db.create_function("signdeal_holder_is_gone", 1, _holder_is_gone)

    async def _enable_wal(self, db: aiosqlite.Connection) -> object:
        # Switching a new file to WAL takes an exclusive lock without SQLite's busy handler, so
        # several processes opening one new database at once can see "locked": try again.
        deadline = asyncio.get_running_loop().time() + self.busy_timeout
        while True:
            try:
                (mode,) = next(iter(await db.execute_fetchall("PRAGMA journal_mode = WAL")))
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)
            else:
                return mode

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def _fetch(self, query: str, *args: Any) -> Sequence[Row]:
        if self._db is None:
            raise RuntimeError("the SQLite store is not open")
        # NUL becomes U+FFFD as in PostgreSQL, which refuses it: both backends keep the same text.
        storable = [storable_text(arg) if isinstance(arg, str) else arg for arg in args]
        with unavailable_when(*_UNAVAILABLE):
            return list(await self._db.execute_fetchall(_numbered_placeholders(query), storable))

    def _timestamp(self, moment: datetime) -> object:
        return iso_text(moment)

    # -- locks --------------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, name: str, *, timeout: float = 60.0) -> AsyncIterator[None]:  # noqa: ASYNC109
        async with self._local.first_in_line(name, within=timeout) as remaining:
            lease = _Lease(name, _new_holder_id())
            await self._take_in_time(lease, remaining)
            renewal = asyncio.create_task(self._keep_renewed(lease), name=f"renew lease {name}")
            try:
                yield
            finally:
                renewal.cancel()
                await asyncio.wait([renewal])
                await self._release(lease)

    async def _take_in_time(self, lease: _Lease, within: float) -> None:
        try:
            take = functools.partial(self._take, lease)
            await poll_for_lock(take, name=lease.name, within=within)
        except asyncio.CancelledError:
            # The cancelled attempt may still have taken the lease on aiosqlite's thread.
            await self._release(lease)
            raise

    async def _take(self, lease: _Lease) -> bool:
        now = datetime.now(UTC)
        expires = iso_text(now + timedelta(seconds=self.lock_ttl))
        rows = await self._fetch(_TAKE_LEASE, lease.name, lease.owner, expires, iso_text(now))
        return bool(rows)

    async def _keep_renewed(self, lease: _Lease) -> None:
        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            expires = iso_text(datetime.now(UTC) + timedelta(seconds=self.lock_ttl))
            try:
                renewed = await self._fetch(_RENEW_LEASE, lease.name, lease.owner, expires)
            except Exception as exc:
                log.warning("lock.renew_failed", lock=lock_label(lease.name), error=str(exc))
                continue
            if not renewed:
                # We stalled past the TTL and someone took the lease over: say so loudly.
                log.error("lock.lease_lost", lock=lock_label(lease.name), lock_ttl=self.lock_ttl)
                return

    async def _release(self, lease: _Lease) -> None:
        try:
            await self._fetch(_RELEASE_LEASE, lease.name, lease.owner)
        except Exception as exc:
            log.warning("lock.release_failed", lock=lock_label(lease.name), error=str(exc))


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
    path = url.removeprefix(_URL_PREFIX)
    if path == url or not path:
        raise ValueError(
            "a SQLite STORE_URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return Path(path)


@functools.lru_cache(maxsize=64)
def _numbered_placeholders(query: str) -> str:
    """PostgreSQL's ``$1`` as SQLite's ``?1``: same numbering, same reuse of a number."""
    return re.sub(r"\$(\d+)", r"?\1", query)


def _json_concat(stored: str | None, appended: str) -> str:
    return json_text([*orjson.loads(stored or "[]"), *orjson.loads(appended)])


def _new_holder_id() -> str:
    """Unique per acquisition, so two coroutines of one process never share a lease."""
    return f"{_MACHINE}:{os.getpid()}:{uuid.uuid4().hex}"


def _machine_identity() -> str:
    """This host and PID namespace: only a holder from the same one can be checked for life."""
    try:
        namespace = "".join(ch for ch in os.readlink("/proc/self/ns/pid") if ch.isdigit())
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}#{namespace}"


_MACHINE = _machine_identity()


def _holder_is_gone(owner: str) -> bool:
    """True when the lease's holder was a process of this machine that no longer exists.

    Lets a restarted replica take a dead process's lock at once instead of waiting for the lease
    to expire. Holders elsewhere (another host, another PID namespace) are never judged.
    """
    machine, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if machine != _MACHINE or not machine.split("#", 1)[-1] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
