"""What unsigned clients can make ingest hold: slow bodies and headers, many bodies at once,
huge header sets, and the memory given back afterwards (issue 14)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from structlog.testing import capture_logs

from sandbox.clicksign import build_webhook, encode, signed_request
from services.ingest import body as body_module
from services.ingest.app import create_app
from services.ingest.body import BodyGate
from services.ingest.routes import WEBHOOK_PATH
from services.ingest.settings import IngestSettings
from shared.http_server import MAX_HEADERS, server_options
from shared.topology import Topology

SECRET = "limits-secret-7d1e"
KEEPALIVE_SECONDS = 1.0
# Bounds for this test's waits: far above the limits under test, far below aiohttp's defaults
# (75 s keep-alive, no body deadline), so a missing limit fails instead of passing slowly.
CLOSE_WITHIN_SECONDS = 8.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


@pytest_asyncio.fixture
async def server(amqp_url: str, topology: Topology) -> AsyncIterator[Server]:
    """ingest served as `python -m services.ingest` serves it (web.run_app's runner and
    options; aiohttp's TestServer would cancel handlers when a client goes away)."""
    settings = IngestSettings(
        amqp_url=amqp_url,
        clicksign_webhook_secret=SECRET,
        ingest_body_timeout_seconds=1.0,
        ingest_max_concurrent_bodies=1,
    )
    runner = web.AppRunner(
        create_app(settings, topology=topology), **server_options(KEEPALIVE_SECONDS)
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Server("127.0.0.1", runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def open_raw(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port)


async def answer_or_close(reader: asyncio.StreamReader) -> bytes:
    """The first line the server sends, or b"" when it closes the connection."""
    async with asyncio.timeout(CLOSE_WITHIN_SECONDS):
        return await reader.readline()


def slow_body_head(length: int = 1000) -> bytes:
    return (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        "Content-Hmac: sha256=00\r\n\r\n"
    ).encode()


async def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(
    server: Server,
) -> None:
    reader, writer = await open_raw(server)
    writer.write(slow_body_head() + b"{")  # and nothing more

    first_line = await answer_or_close(reader)
    rest = await asyncio.wait_for(reader.read(), CLOSE_WITHIN_SECONDS)  # then EOF
    writer.close()

    assert first_line.startswith(b"HTTP/1.1 408")
    assert b'"body not received in time"' in rest


async def test_a_client_trickling_its_headers_is_closed_by_the_keepalive_timeout(
    server: Server,
) -> None:
    reader, writer = await open_raw(server)
    writer.write(f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\n".encode())

    async def trickle() -> None:
        for _ in range(int(CLOSE_WITHIN_SECONDS * 4)):
            writer.write(b"X")
            await asyncio.sleep(0.25)

    trickler = asyncio.create_task(trickle())
    try:
        closed = await answer_or_close(reader)
    finally:
        trickler.cancel()
        writer.close()

    assert closed == b""


async def test_past_the_concurrent_bodies_a_webhook_gets_503_with_retry_after(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(body_module, "SLOT_WAIT_SECONDS", 0.2)  # well within the 1 s body wait
    _reader, writer = await open_raw(server)
    writer.write(slow_body_head())  # holds the only slot for up to a second
    await asyncio.sleep(0.1)
    body = encode(build_webhook("sign"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.url(WEBHOOK_PATH), data=body, headers=signed_request(body, SECRET)
        ) as response,
    ):
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
    writer.close()


async def test_too_many_headers_are_refused(server: Server) -> None:
    reader, writer = await open_raw(server)
    headers = "".join(f"X-Filler-{index}: a\r\n" for index in range(MAX_HEADERS + 1))
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())

    first_line = await answer_or_close(reader)
    writer.close()

    assert first_line.split(b" ")[1] in (b"400", b"431")


async def test_answers_do_not_name_the_server_software(server: Server) -> None:
    async with aiohttp.ClientSession() as session, session.get(server.url("/healthz")) as answer:
        assert answer.headers["Server"] == "signdeal"


async def test_a_request_the_parser_refuses_does_not_name_the_server_software_either(
    server: Server,
) -> None:
    # aiohttp answers these itself, before the app sees a request.
    reader, writer = await open_raw(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()

    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.") and b" 400 " in head.split(b"\r\n")[0] + b" "
    assert b"server: signdeal" in head
    assert b"aiohttp" not in answer.lower() and b"python" not in answer.lower()


async def test_a_client_that_goes_away_mid_body_is_not_an_error(server: Server) -> None:
    with capture_logs() as logs:
        _reader, writer = await open_raw(server)
        writer.write(slow_body_head() + b"{")
        await asyncio.sleep(0.2)
        writer.close()
        await asyncio.sleep(0.5)

    events = [line["event"] for line in logs]
    assert "webhook.abandoned" in events
    assert "http.unhandled_error" not in events


class FakeRequest:
    """Just what `BodyGate.read` uses of an aiohttp request."""

    def __init__(self, size: int) -> None:
        # Not yet whole, like a body still arriving: the gate sets its deadline.
        self.content = type("Content", (), {"total_bytes": size, "is_eof": lambda _: False})()
        self.size = size

    async def read(self) -> bytes:
        await asyncio.sleep(0)
        return b"a" * self.size


async def test_memory_is_given_back_once_the_gate_is_idle_after_large_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(body_module, "RETURN_MEMORY_DELAY_SECONDS", 0.05)
    returned: list[int] = []
    gate = BodyGate(4, 5.0, return_memory=lambda: returned.append(1))
    request: Any = FakeRequest(3 * 1024 * 1024)

    await gate.read(request)  # 3 MiB: not worth it yet
    await asyncio.sleep(0.1)
    assert returned == []

    await asyncio.gather(*(gate.read(request) for _ in range(3)))  # 12 MiB in all
    await asyncio.sleep(0.1)
    assert returned == [1]

    small: Any = FakeRequest(6 * 1024)
    for _ in range(100):
        await gate.read(small)
    await asyncio.sleep(0.1)
    assert returned == [1]  # small webhooks never trigger it


def test_the_limits_are_in_the_settings() -> None:
    settings = IngestSettings(amqp_url="amqp://x/", clicksign_webhook_secret=SECRET)

    assert settings.ingest_max_body_bytes == 1024 * 1024
    assert settings.ingest_max_concurrent_bodies * settings.ingest_max_body_bytes <= 64 * 2**20
