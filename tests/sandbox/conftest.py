"""A fresh RD sandbox per test on a real port, and a caller speaking its HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from sandbox.rdstation import SandboxConfig, SandboxServer
from tests.sandbox.caller import OTHER_TOKEN, RdCaller


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module to start the sandbox differently."""
    return SandboxConfig(tokens=("sandbox-token", OTHER_TOKEN), access_log=False)


@pytest_asyncio.fixture
async def rd(sandbox_config: SandboxConfig) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(sandbox_config) as server:
        yield server


@pytest_asyncio.fixture
async def api(rd: SandboxServer) -> AsyncIterator[RdCaller]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield RdCaller(session, rd, rd.token)
