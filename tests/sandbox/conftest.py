"""The RD sandbox under test (``sandbox``; other suites use it as ``rd``, from
``tests/plugins/rd_sandbox.py``), fresh per test on a real port, and a caller speaking its HTTP
API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from sandbox.rdstation import SandboxConfig, SandboxServer
from tests.sandbox.caller import OTHER_TOKEN, RdCaller


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """How ``sandbox`` starts; a module parametrizes it to start it differently."""
    return SandboxConfig(tokens=("sandbox-token", OTHER_TOKEN), access_log=False)


@pytest_asyncio.fixture
async def sandbox(sandbox_config: SandboxConfig) -> AsyncIterator[SandboxServer]:
    """The RD sandbox under test, started with ``sandbox_config``."""
    async with SandboxServer(sandbox_config) as server:
        yield server


@pytest_asyncio.fixture
async def api(sandbox: SandboxServer) -> AsyncIterator[RdCaller]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield RdCaller(session, sandbox, sandbox.token)
