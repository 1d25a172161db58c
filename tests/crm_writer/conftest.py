"""Fixtures only crm_writer's tests use: its whole app behind a test client, with its broker and
RD unreachable (``start_client``) or running against them (``writer_client``). The sandbox, the
stores, the clients and the pipeline come from ``tests/plugins``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.app import create_app
from services.crm_writer.settings import CrmWriterSettings
from shared.topology import Topology, delete_topology

Client = TestClient[object, object]
StartClient = Callable[..., Awaitable[Client]]


@pytest_asyncio.fixture
async def start_client(
    tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> AsyncIterator[StartClient]:
    """``await start_client(host=…, **settings)``: crm_writer's whole app with its broker and RD
    unreachable (only the HTTP side and the store matter), on ``host``, and a client calling it
    there. ``store_url`` defaults to a new SQLite file."""
    clients: list[Client] = []

    async def start(*, host: str = "127.0.0.1", **settings: Any) -> Client:
        configured = CrmWriterSettings(
            **{
                "amqp_url": f"amqp://guest:guest@127.0.0.1:{unused_tcp_port_factory()}/",
                "store_url": f"sqlite:///{tmp_path}/app-{len(clients)}.db",
                "rdstation_sandbox_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/api/v1",
                **settings,
            }
        )
        client: Client = TestClient(TestServer(create_app(configured), host=host))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest_asyncio.fixture
async def writer_client(
    amqp_url: str, topology: Topology, rd: SandboxServer, tmp_path: Path
) -> AsyncIterator[TestClient[object, object]]:
    """crm_writer's whole app against the test's broker names and the sandbox, with a SQLite
    store and the backlog measured every 0.2 s."""
    settings = CrmWriterSettings(
        amqp_url=amqp_url,
        amqp_topology_prefix=topology.prefix,
        store_url=f"sqlite:///{tmp_path}/http.db",
        rdstation_sandbox_url=rd.url,
        rdstation_rate_limit_per_minute=60_000,
        crm_writer_backlog_poll_seconds=0.2,
    )
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client
    # The app declares the default retry tiers under the test prefix.
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), Topology(prefix=topology.prefix))
