"""Fixtures only ingest's tests use: its settings and its app, running against the broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from services.ingest.settings import IngestSettings
from shared.topology import Topology
from tests.ingest.in_process import make_settings, running_ingest


@pytest.fixture
def ingest_settings(amqp_url: str) -> IngestSettings:
    """ingest's settings with the tests' webhook secret, against the test broker."""
    return make_settings(amqp_url)


@pytest_asyncio.fixture
async def ingest_client(
    ingest_settings: IngestSettings, topology: Topology
) -> AsyncIterator[TestClient[Any, Any]]:
    """ingest's app on the test's AMQP names, ready (its broker connection is up)."""
    async with running_ingest(ingest_settings, topology) as test_client:
        yield test_client
