"""Fixtures for crm_writer tests: the RD sandbox, both store backends, a wired pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient
from services.crm_writer.store import Store, open_store


@pytest_asyncio.fixture
async def rd() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(SandboxConfig(rate_limit=None)) as server:
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
