"""The sandbox as its own process (``python -m sandbox.rdstation``) and its log lines."""

from __future__ import annotations

import asyncio
import io
import socket
import sys

import aiohttp
import orjson

from sandbox.rdstation import SandboxConfig, SandboxServer
from sandbox.rdstation.__main__ import parse_command_line
from shared.logging import configure_logging

SECRET = "cli-secret-token-123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_answer(session: aiohttp.ClientSession, url: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


def test_command_line_options_become_the_config() -> None:
    command = parse_command_line(
        ["--port", "9000", "--token", "a,b", "--token", "c", "--rate-limit", "0", "--retry-after"]
    )
    config = command.config
    assert (command.host, command.port) == ("127.0.0.1", 9000)
    assert config.tokens == ("a", "b", "c")
    assert config.rate_limit is None
    assert config.retry_after_header is True


async def run_sandbox_module(*options: str) -> list[dict[str, object]]:
    """Start ``python -m sandbox.rdstation``, call RD's API twice (one good token, one bad) and
    Clicksign's once, stop it; its JSON log lines (the token must appear nowhere)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.rdstation",
        "--port",
        str(port),
        "--token",
        SECRET,
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as session:
            await wait_for_answer(session, f"http://127.0.0.1:{port}/__sandbox/state")
            url = f"http://127.0.0.1:{port}/api/v1/token/check"
            async with session.get(url, params={"token": SECRET}) as response:
                assert response.status == 200
            async with session.get(url, params={"token": "wrong"}) as response:
                assert response.status == 401
            async with session.get(f"http://127.0.0.1:{port}/api/v1/accounts") as response:
                assert response.status == 403
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=10)
    assert SECRET.encode() not in output
    return [orjson.loads(line) for line in output.splitlines() if line.startswith(b"{")]


async def test_module_serves_the_api_and_never_logs_the_token() -> None:
    events = [line["event"] for line in await run_sandbox_module("--log-requests")]

    assert "rd_sandbox.listening" in events
    assert events.count("rd_sandbox.request") == 2
    assert events.count("clicksign_sandbox.request") == 1


async def test_module_logs_requests_at_debug_unless_asked() -> None:
    quiet = [line["event"] for line in await run_sandbox_module()]
    debug = await run_sandbox_module("--log-level", "DEBUG")

    assert "rd_sandbox.listening" in quiet
    assert "rd_sandbox.request" not in quiet
    assert "clicksign_sandbox.request" not in quiet
    requests = [line for line in debug if str(line["event"]).endswith("sandbox.request")]
    assert [line["level"] for line in requests] == ["debug"] * 3


async def test_access_log_lines_show_the_query_without_the_token() -> None:
    stream = io.StringIO()
    configure_logging("rd-sandbox", stream=stream)
    async with (
        SandboxServer(SandboxConfig(tokens=(SECRET,))) as rd,
        aiohttp.ClientSession() as session,
    ):
        params = {"token": SECRET, "email": "maria@acme.com.br"}
        async with session.get(rd.url + "/contacts", params=params) as response:
            assert response.status == 200
    line = orjson.loads(stream.getvalue().splitlines()[-1])
    assert (line["event"], line["status"], line["path"]) == (
        "rd_sandbox.request",
        200,
        "/api/v1/contacts",
    )
    assert line["query"] == {"email": "maria@acme.com.br"}
    assert SECRET not in stream.getvalue()
