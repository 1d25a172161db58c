"""What only one backend has: SQLite's URL and file, PostgreSQL's advisory lock keys."""

from __future__ import annotations

import sqlite3
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from services.crm_writer.store import LockTimeout, Store, StoreUnavailable, open_store, opened
from services.crm_writer.store.postgres import PostgresStore, advisory_key
from services.crm_writer.store.rows import iso_text
from services.crm_writer.store.sqlite import SqliteStore, sqlite_path
from tests.plugins.stores import postgres_through_proxy
from tests.store.conftest import eventually

DOCUMENT_LOCK = "document:doc-1"


def test_store_url_picks_the_backend() -> None:
    assert isinstance(open_store("sqlite:///data/signdeal.db"), SqliteStore)
    assert isinstance(open_store("postgresql://signdeal@db/signdeal"), PostgresStore)
    assert isinstance(open_store("postgres://signdeal@db/signdeal"), PostgresStore)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/signdeal.db", Path("data/signdeal.db")),
        ("sqlite:////var/lib/signdeal/signdeal.db", Path("/var/lib/signdeal/signdeal.db")),
    ],
)
def test_sqlite_url_names_a_relative_or_absolute_file(url: str, path: Path) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://data.db", "sqlite:///", "sqlite:data.db"])
def test_malformed_sqlite_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///relative/path\.db"):
        SqliteStore(url)


async def test_sqlite_creates_missing_directories(tmp_path: Path) -> None:
    database = tmp_path / "a" / "b" / "signdeal.db"

    async with opened(SqliteStore(f"sqlite:///{database}")) as store:
        await store.ping()

    assert database.is_file()


async def test_sqlite_relative_path_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    async with opened(SqliteStore("sqlite:///data/signdeal.db")):
        pass

    assert (tmp_path / "data" / "signdeal.db").is_file()


def test_advisory_key_is_stable_and_fits_a_bigint() -> None:
    key = advisory_key("document:doc-1")

    assert key == advisory_key("document:doc-1")
    assert key != advisory_key("document:doc-2")
    assert -(2**63) <= key < 2**63


def test_advisory_key_does_not_change_between_processes() -> None:
    """Pinned: every replica must compute the same key for a name (``hash()`` would not)."""
    assert advisory_key("document:doc-1") == -6814436712845220360


async def test_sqlite_lease_taken_over_after_a_stall_is_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signdeal.db'}"
    store = SqliteStore(url, lock_ttl=0.3)
    async with opened(store), AsyncExitStack() as stack:
        other = await stack.enter_async_context(opened(SqliteStore(url)))
        with capture_logs() as logs:
            async with store.lock(DOCUMENT_LOCK, timeout=5):
                # Stands in for a holder frozen past its TTL, and another process moving in.
                expired = iso_text(datetime(2000, 1, 1))
                await store._fetch("UPDATE locks SET expires_at = $1", expired)
                await stack.enter_async_context(other.lock(DOCUMENT_LOCK, timeout=0))
                await eventually(lambda: any(log["event"] == "lock.lease_lost" for log in logs))

        # Leaving our lock did not free the lease the other holder now has.
        with pytest.raises(LockTimeout):
            async with store.lock(DOCUMENT_LOCK, timeout=0):
                pass


async def test_postgres_lock_whose_connection_dies_is_reported(postgres_store_url: str) -> None:
    async with opened(PostgresStore(postgres_store_url)) as store:
        with capture_logs() as logs:
            async with store.lock(DOCUMENT_LOCK, timeout=5):
                await _end_sessions_holding_advisory_locks(postgres_store_url)
                await eventually(
                    lambda: any(log["event"] == "lock.connection_lost" for log in logs)
                )

        async with store.lock(DOCUMENT_LOCK, timeout=0):
            pass


async def _end_sessions_holding_advisory_locks(url: str) -> None:
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(
            """
            SELECT pg_terminate_backend(pid) FROM pg_locks
            WHERE locktype = 'advisory' AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """
        )
    finally:
        await admin.close()


def test_a_store_url_no_backend_takes_is_refused_by_the_one_check() -> None:
    with pytest.raises(ValueError, match=r"^must start with sqlite:/// or postgresql://$"):
        open_store("mysql://signdeal@db/signdeal")


async def test_a_sqlite_file_another_process_holds_is_unavailable_not_a_crash(
    tmp_path: Path,
) -> None:
    database = tmp_path / "signdeal.db"
    async with opened(SqliteStore(f"sqlite:///{database}", busy_timeout=0)) as store:
        holder = sqlite3.connect(database, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreUnavailable, match="locked") as raised:
                await store.record_contact("ana@example.com", "contact-1")
        finally:
            holder.close()

    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)


async def test_a_postgresql_that_stops_answering_is_unavailable_not_a_crash(
    postgres_store_url: str,
) -> None:
    async with (
        postgres_through_proxy(postgres_store_url) as (proxied, proxy),
        opened(PostgresStore(proxied, pool_size=1)) as store,
    ):
        proxy.refuse()
        proxy.cut()
        with pytest.raises(StoreUnavailable):
            await store.get_contact_id("ana@example.com")


async def test_a_constraint_the_store_refuses_stays_the_drivers_error(store: Store) -> None:
    await store.record_deal("doc-1", "deal-1")

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the point is its type below
        await store.record_deal("doc-2", "deal-1")

    assert not isinstance(raised.value, StoreUnavailable)
