"""The history store for the tests: a fresh PostgreSQL database or SQLite file per test, and a
store of each backend (every test that takes ``store`` runs against both)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from services.crm_writer.store import Store, open_store, opened
from tests.infrastructure import postgres_url
from tests.store.backends import build_store
from tests.tcp_proxy import TcpProxy


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest_asyncio.fixture
async def postgres_store_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"signdeal_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(postgres_server_url)
    yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def postgres_through_proxy(url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """``url`` through a TCP proxy (cut it to take PostgreSQL away), and the proxy."""
    parts = urlsplit(url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        yield urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}")), proxy
    finally:
        await proxy.stop()


@pytest.fixture
def sqlite_store_path(tmp_path: Path) -> Path:
    """Where the test's SQLite store lives (not created yet); processes can share it."""
    return tmp_path / "signdeal.db"


@pytest.fixture
def sqlite_store_url(sqlite_store_path: Path) -> str:
    return f"sqlite:///{sqlite_store_path}"


@pytest_asyncio.fixture
async def sqlite_store(sqlite_store_url: str) -> AsyncIterator[Store]:
    """An empty SQLite store at ``sqlite_store_url``, opened."""
    async with opened(open_store(sqlite_store_url)) as store:
        yield store


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'signdeal.db'}"
    return str(request.getfixturevalue("postgres_store_url"))


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An empty store of each backend, opened; SQLite's with short leases (`build_store`)."""
    opened = build_store(store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
