"""Fixtures for crm_writer tests: the sandbox (RD's API and Clicksign's), both store backends, a
wired pipeline, a Clicksign client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from sandbox.clicksign_api import ClicksignApiConfig
from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.app import create_app
from services.crm_writer.clicksign import ClicksignClient
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.pacing import RequestPacer
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import Store, open_store


@pytest_asyncio.fixture
async def rd() -> AsyncIterator[SandboxServer]:
    clicksign = ClicksignApiConfig(rate_limit=None, access_log=False)
    async with SandboxServer(SandboxConfig(rate_limit=None), clicksign=clicksign) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/signdeal.db"
    url: str = request.getfixturevalue("postgres_store_url")
    return url


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def rd_client(rd: SandboxServer, http_session: aiohttp.ClientSession) -> RdStationClient:
    return RdStationClient(
        http_session, rd.url, rd.token, RdRateLimiter(60_000), timeout_seconds=2.0
    )


@pytest.fixture
def pipeline(store: Store, rd_client: RdStationClient, deal_settings: DealSettings) -> DealPipeline:
    return DealPipeline(store, rd_client, deal_settings)


@pytest.fixture
def clicksign_client(rd: SandboxServer, http_session: aiohttp.ClientSession) -> ClicksignClient:
    """Clicksign's API as the sandbox plays it, unpaced (the pacing has its own tests)."""
    return ClicksignClient(
        http_session, rd.clicksign_url, rd.clicksign_token, RequestPacer(60_000, 10.0), 2.0
    )


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
