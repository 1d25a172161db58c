"""RabbitMQ for the tests: where it is, connections to it, and AMQP names no other test uses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.topology import Topology, declare_topology, delete_topology
from tests.infrastructure import rabbitmq_url
from tests.tcp_proxy import TcpProxy


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with rabbitmq_url() as url:
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
async def service_topology(amqp_url: str, topology: Topology) -> AsyncIterator[Topology]:
    """The names a service process declares: the test's prefix with the default retry tiers
    (5 s, 30 s, …), which the ``topology`` fixture does not know about; all deleted afterwards."""
    names = Topology(prefix=topology.prefix)
    yield names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), names)


@pytest_asyncio.fixture
async def declared_topology(amqp_url: str, topology: Topology) -> Topology:
    """The test's queues, declared as crm_writer declares them (deleted by ``topology``)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), topology)
    return topology


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
async def broker_proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the shared broker; cut it to simulate an outage."""
    parts = urlsplit(amqp_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def proxied_amqp_url(amqp_url: str, proxy: TcpProxy) -> str:
    """``amqp_url`` through ``proxy`` (same credentials and virtual host)."""
    parts = urlsplit(amqp_url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{credentials}127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
