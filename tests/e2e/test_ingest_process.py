"""``python -m services.ingest`` as a real process, against the real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from sandbox.clicksign import build_webhook, post_webhook
from shared.topology import Topology, delete_topology

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-webhook-secret-81d3"
START_SECONDS = 30.0
STOP_SECONDS = 15.0
BASE_FIELDS = ("timestamp", "level", "event", "service")
EVENT_FIELDS = ("event_id", "correlation_id", "document_key")


@dataclass
class IngestProcess:
    process: asyncio.subprocess.Process
    base_url: str
    stdout_lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    def json_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stdout_lines]

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_SECONDS):
            code = await self.process.wait()
            if self.reader is not None:
                await self.reader
        return code


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_env(**variables: str) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("INGEST_", "CLICKSIGN_", "AMQP_", "LOG_"))
    }
    return {**inherited, "PYTHONUNBUFFERED": "1", **variables}


async def start_ingest(amqp_url: str, topology: Topology) -> IngestProcess:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ingest",
        cwd=REPO_ROOT,
        env=service_env(
            AMQP_URL=amqp_url,
            AMQP_TOPOLOGY_PREFIX=topology.prefix,
            CLICKSIGN_WEBHOOK_SECRET=SECRET,
            INGEST_HOST="127.0.0.1",
            INGEST_PORT=str(port),
            INGEST_SHUTDOWN_TIMEOUT_SECONDS="5",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ingest = IngestProcess(process, f"http://127.0.0.1:{port}")
    ingest.reader = asyncio.create_task(collect_lines(process, ingest.stdout_lines))
    return ingest


async def collect_lines(process: asyncio.subprocess.Process, into: list[str]) -> None:
    assert process.stdout is not None
    async for raw in process.stdout:
        into.append(raw.decode().rstrip("\n"))


async def wait_until_ready(ingest: IngestProcess) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(START_SECONDS):
        while ingest.process.returncode is None:
            try:
                async with session.get(f"{ingest.base_url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    stderr = await ingest.process.stderr.read() if ingest.process.stderr else b""
    pytest.fail(f"ingest exited with {ingest.process.returncode}: {stderr.decode()}")


@pytest_asyncio.fixture
async def service_topology(amqp_url: str, topology: Topology) -> AsyncIterator[Topology]:
    """The names the service declares: the test prefix with the default retry tiers."""
    names = Topology(prefix=topology.prefix)
    yield names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), names)


@pytest_asyncio.fixture
async def ingest(amqp_url: str, service_topology: Topology) -> AsyncIterator[IngestProcess]:
    process = await start_ingest(amqp_url, service_topology)
    try:
        await wait_until_ready(process)
        yield process
    finally:
        if process.process.returncode is None:
            try:
                await process.stop()
            except TimeoutError:
                process.process.kill()
                await process.process.wait()


async def get_one(
    connection: AbstractRobustConnection, queue_name: str
) -> AbstractIncomingMessage | None:
    channel = await connection.channel()
    queue = await channel.declare_queue(queue_name, passive=True)
    return await queue.get(no_ack=True, fail=False)


async def test_signed_sign_webhook_is_published_to_the_work_queue(
    ingest: IngestProcess,
    service_topology: Topology,
    amqp_connection: AbstractRobustConnection,
) -> None:
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign", build_webhook("sign"), SECRET
    )

    assert status == 202
    message = await get_one(amqp_connection, f"{service_topology.prefix}crm_writer.deals")
    assert message is not None
    assert message.message_id == answer["event_id"]
    assert await get_one(amqp_connection, service_topology.work_queue) is None


async def test_wrong_signature_is_rejected(
    ingest: IngestProcess,
    service_topology: Topology,
    amqp_connection: AbstractRobustConnection,
) -> None:
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign", build_webhook("sign"), "not-the-secret"
    )

    assert status == 401
    assert "error" in answer
    assert await get_one(amqp_connection, service_topology.work_queue) is None


async def test_stdout_is_json_lines_with_base_and_event_fields(ingest: IngestProcess) -> None:
    body = build_webhook("sign", document_key="doc-e2e-logs")
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign?token=url-secret", body, SECRET, request_id="r-e2e"
    )
    assert status == 202

    assert await ingest.stop() == 0
    lines = ingest.json_lines()
    for line in lines:
        assert all(name in line for name in BASE_FIELDS), line
        assert line["service"] == "ingest"
    about_event = [
        line for line in lines if line["event"] in ("webhook.received", "event.published")
    ]
    assert len(about_event) == 2
    for line in about_event:
        assert {name: line[name] for name in EVENT_FIELDS} == {
            "event_id": answer["event_id"],
            "correlation_id": "r-e2e",
            "document_key": "doc-e2e-logs",
        }
    events = [line["event"] for line in lines]
    for expected in ("service.started", "broker.connected", "http.request", "service.stopping"):
        assert expected in events
    output = "\n".join(ingest.stdout_lines)
    assert SECRET not in output
    assert "url-secret" not in output


async def test_sigterm_stops_the_service_with_exit_code_0(ingest: IngestProcess) -> None:
    code = await ingest.stop()

    assert code == 0
    assert ingest.json_lines()[-1]["event"] in ("broker.closed", "service.stopping")


async def test_missing_secret_exits_with_one_line_naming_the_variable(amqp_url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ingest",
        cwd=REPO_ROOT,
        env=service_env(AMQP_URL=amqp_url, INGEST_PORT=str(free_port())),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(START_SECONDS):
        stdout, stderr = await process.communicate()

    assert process.returncode not in (0, None)
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "CLICKSIGN_WEBHOOK_SECRET" in lines[0]
    assert "Traceback" not in stderr.decode()
    assert stdout == b""
