"""ingest's app in process, behind aiohttp's test client, and signed webhooks posted to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from sandbox.clicksign import encode, signed_request
from services.ingest.app import create_app
from services.ingest.routes import WEBHOOK_PATH
from services.ingest.settings import IngestSettings
from shared.topology import Topology

SECRET = "integration-secret-2f9c"
WAIT_SECONDS = 20.0


def make_settings(amqp_url: str, **overrides: Any) -> IngestSettings:
    options: dict[str, Any] = {
        "amqp_url": amqp_url,
        "clicksign_webhook_secret": SECRET,
        "ingest_publish_timeout_seconds": 5.0,
    }
    options.update(overrides)
    return IngestSettings(**options)


@asynccontextmanager
async def running_ingest(
    settings: IngestSettings, topology: Topology, *, wait_ready: bool = True
) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings, topology=topology))) as client:
        if wait_ready:
            await wait_for_status(client, "/readyz", 200)
        yield client


async def wait_for_status(client: TestClient[Any, Any], path: str, status: int) -> None:
    """Poll ``path`` until it answers ``status``; fail after a bounded wait."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            async with client.get(path) as response:
                if response.status == status:
                    return
            await asyncio.sleep(0.1)


async def post_signed(
    client: TestClient[Any, Any],
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    payload = body if isinstance(body, bytes) else encode(body)
    all_headers = {**signed_request(payload, secret), **(headers or {})}
    return await client.post(WEBHOOK_PATH, data=payload, headers=all_headers)
