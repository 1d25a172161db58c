"""RD Station and Clicksign as the tests meet them: the bundled sandbox (RD's CRM v1 API and
Clicksign's API in one server, unpaced and quiet), clients of it, and crm_writer's deal settings
and pipeline over it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from sandbox.clicksign_api import ClicksignApiConfig
from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.clicksign import ClicksignClient
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.pacing import RequestPacer
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient
from services.crm_writer.store import Store
from services.crm_writer.templates import TitleTemplate


@pytest_asyncio.fixture
async def rd() -> AsyncIterator[SandboxServer]:
    """The RD sandbox with its Clicksign API, on a free port, with no rate limit and no access
    log (tests that need a limit start their own server)."""
    clicksign = ClicksignApiConfig(rate_limit=None, access_log=False)
    config = SandboxConfig(rate_limit=None, access_log=False)
    async with SandboxServer(config, clicksign=clicksign) as server:
        try:
            yield server
        finally:
            server.faults.release_hangs()  # a hung request must not hold up the server's stop


@pytest_asyncio.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def rd_client(rd: SandboxServer, http_session: aiohttp.ClientSession) -> RdStationClient:
    """crm_writer's RD client of the sandbox, unpaced (the pacing has its own tests)."""
    return RdStationClient(
        http_session, rd.url, rd.token, RdRateLimiter(60_000), timeout_seconds=2.0
    )


@pytest.fixture
def impatient_rd_client(rd: SandboxServer, http_session: aiohttp.ClientSession) -> RdStationClient:
    """``rd_client`` giving RD one second: the fault tests make RD hang for longer."""
    return RdStationClient(
        http_session, rd.url, rd.token, RdRateLimiter(60_000), timeout_seconds=1.0
    )


@pytest.fixture
def clicksign_client(rd: SandboxServer, http_session: aiohttp.ClientSession) -> ClicksignClient:
    """Clicksign's API as the sandbox plays it, unpaced (the pacing has its own tests)."""
    return ClicksignClient(
        http_session, rd.clicksign_url, rd.clicksign_token, RequestPacer(60_000, 10.0), 2.0
    )


@pytest.fixture
def deal_settings(rd: SandboxServer) -> DealSettings:
    """Deals into the sandbox's "Em assinatura", titled as by default."""
    return DealSettings(
        stage_id=rd.state.stage_id("Em assinatura"),
        title=TitleTemplate("{document.filename} - {signer.name}"),
        lock_timeout_seconds=20,
    )


@pytest.fixture
def pipeline(store: Store, rd_client: RdStationClient, deal_settings: DealSettings) -> DealPipeline:
    """crm_writer's pipeline over ``store`` (each backend) and the sandbox."""
    return DealPipeline(store, rd_client, deal_settings)
