"""Fixtures shared by every test: the broker, PostgreSQL, unique AMQP names, log state, and
what the crm_writer, e2e and fault tests share (a client session, deal settings over the RD
sandbox each directory's ``rd`` fixture starts, the names a service process declares)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
import pytest
import pytest_asyncio
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.store import Store, open_store
from services.crm_writer.templates import TitleTemplate
from shared.logging import forget_registered_secrets
from shared.topology import Topology, declare_topology, delete_topology
from tests.infrastructure import postgres_url, rabbitmq_url
from tests.tcp_proxy import TcpProxy


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with rabbitmq_url() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@pytest_asyncio.fixture
async def topology(amqp_url: str) -> AsyncIterator[Topology]:
    """AMQP names no other test uses, with short retry tiers; deleted after the test."""
    names = Topology(prefix=f"test-{uuid.uuid4().hex[:10]}.", retry_delays_seconds=(1, 2, 4))
    yield names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), names)


@pytest_asyncio.fixture
async def amqp_connection(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest_asyncio.fixture
async def channel(amqp_connection: AbstractRobustConnection, topology: Topology) -> AbstractChannel:
    """A confirming channel on which the test's topology is declared."""
    channel = await amqp_connection.channel(publisher_confirms=True)
    await declare_topology(channel, topology)
    return channel


@pytest_asyncio.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """An empty SQLite store in the test's temporary folder."""
    store = open_store(f"sqlite:///{tmp_path}/signdeal.db")
    await store.open()
    yield store
    await store.close()


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


@pytest_asyncio.fixture
async def broker_proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the shared broker; cut it to simulate an outage."""
    parts = urlsplit(amqp_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def proxied_amqp_url(amqp_url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(amqp_url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{credentials}127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@pytest_asyncio.fixture
async def service_topology(amqp_url: str, topology: Topology) -> AsyncIterator[Topology]:
    """The names a service process declares: the test's prefix with the default retry tiers
    (5 s, 30 s, …), which the ``topology`` fixture does not know about; all deleted afterwards."""
    names = Topology(prefix=topology.prefix)
    yield names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), names)


@pytest_asyncio.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def deal_settings(rd: SandboxServer) -> DealSettings:
    """Deals into "Em assinatura" of the sandbox the test's directory starts as ``rd``."""
    return DealSettings(
        stage_id=rd.state.stage_id("Em assinatura"),
        title=TitleTemplate("{document.filename} - {signer.name}"),
        lock_timeout_seconds=20,
    )


@pytest.fixture(autouse=True)
def _reset_logging_state() -> Iterator[None]:
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    forget_registered_secrets()
