"""signdeal's services as real processes, for end-to-end tests.

`ProcessGroup.start` runs ``python -m <module>`` with an environment built by `service_env` (the
test's own variables; none of the developer's signdeal settings leak in), reads its stdout and
stderr as they come and hands back a `ServiceProcess`: wait for ``/readyz``, read its JSON log
lines, stop it with SIGTERM or kill it with SIGKILL, always by its own PID. `log_problems` checks
the logging contract (docs/architecture.md, "Log lines") on everything a process printed.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from sandbox.process_env import free_port, service_env
from shared.topology import Topology

REPO_ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_SECRET = "e2e-webhook-secret-81d3"
SHUTDOWN_SECONDS = 5.0
START_SECONDS = 30.0
STOP_SECONDS = 15.0
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
BASE_FIELDS = ("timestamp", "level", "event", "service")
EVENT_FIELDS = ("event_id", "correlation_id", "document_key")
# A traceback rendered into one JSON line can be long; asyncio's default line limit is 64 KiB.
_LINE_LIMIT = 4 * 1024 * 1024


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = WAIT_SECONDS
) -> None:
    """Poll ``condition`` (plain or async) until it holds; fail naming ``what`` after
    ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await _holds(condition):
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def _holds(condition: Callable[[], bool | Awaitable[bool]]) -> bool:
    answer = condition()
    return bool(await answer if inspect.isawaitable(answer) else answer)


@dataclass
class ServiceProcess:
    """One running service: its process, where it listens, and everything it printed."""

    name: str
    process: asyncio.subprocess.Process
    base_url: str
    stdout_lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    # What a process killed mid-write left without a newline (never parsed as a log line).
    unterminated: list[str] = field(default_factory=list)
    killed: bool = False
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def json_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stdout_lines]

    def events(self) -> list[str]:
        """The ``event`` names of its log lines, in order."""
        return [str(line.get("event")) for line in self.json_lines()]

    def lines_about(self, event_id: str) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if line.get("event_id") == event_id]

    def output(self) -> str:
        return "\n".join([*self.stdout_lines, *self.unterminated, *self.stderr_lines])

    async def wait_until_ready(self, timeout: float = START_SECONDS) -> None:
        """Poll ``/readyz`` until it answers 200; fail with the process's stderr if it exits."""

        async def ready() -> bool:
            if self.returncode is not None:
                await asyncio.gather(*self._readers)
                pytest.fail(
                    f"{self.name} exited with {self.returncode} before it was ready:\n"
                    + "\n".join(self.stderr_lines[-20:] or self.stdout_lines[-20:])
                )
            try:
                async with session.get(f"{self.base_url}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            await wait_until(ready, f"{self.name} to be ready", timeout)

    async def wait_for_log(self, event: str, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        """The first log line whose ``event`` is ``event``, waiting for it if need be."""

        await wait_until(lambda: event in self.events(), f"{self.name} to log {event}", timeout)
        return next(line for line in self.json_lines() if line.get("event") == event)

    async def wait_for_exit(self, timeout: float = STOP_SECONDS) -> int:
        """The exit code, once the process ended and its output is read to the end."""
        async with asyncio.timeout(timeout):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code

    async def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM (a graceful stop), then wait for the exit code."""
        if self.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait_for_exit(timeout)

    async def kill(self) -> int:
        """SIGKILL: no cleanup, no last words (a crash, an OOM kill, a yanked node)."""
        if self.returncode is None:
            self.killed = True
            self.process.kill()
        return await self.wait_for_exit()

    async def _read(self, stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        async for raw in stream:
            text = raw.decode("utf-8", "replace")
            if text.endswith("\n"):
                into.append(text.rstrip("\n"))
            else:
                self.unterminated.append(text)


class ProcessGroup:
    """The processes one test started; whatever still runs at the end is stopped, then killed."""

    def __init__(self) -> None:
        self.started: list[ServiceProcess] = []

    async def start(
        self, name: str, module: str, env: dict[str, str], port: int | None = None
    ) -> ServiceProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        service = ServiceProcess(name, process, f"http://127.0.0.1:{port}")
        service._readers = [
            asyncio.create_task(service._read(process.stdout, service.stdout_lines)),
            asyncio.create_task(service._read(process.stderr, service.stderr_lines)),
        ]
        self.started.append(service)
        return service

    async def close(self) -> None:
        running = [service for service in self.started if service.returncode is None]
        for service in running:
            service.process.send_signal(signal.SIGTERM)
        for service in running:
            try:
                await service.wait_for_exit()
            except TimeoutError:
                await service.kill()


def log_problems(service: ServiceProcess, secrets: Iterable[str] = ()) -> list[str]:
    """How ``service``'s output breaks the logging contract (empty when it keeps it).

    Every stdout line is a JSON object with ``timestamp``, ``level``, ``event`` and the service's
    name; a line with an ``event_id`` also has ``correlation_id`` and ``document_key`` (null for an
    event about no document); no secret
    appears anywhere, stderr included.
    """
    problems = []
    for number, text in enumerate(service.stdout_lines, 1):
        try:
            line = orjson.loads(text)
        except orjson.JSONDecodeError:
            problems.append(f"{service.name} line {number} is not JSON: {text[:200]}")
            continue
        if not isinstance(line, dict):
            problems.append(f"{service.name} line {number} is not an object: {text[:200]}")
            continue
        missing = [name for name in BASE_FIELDS if not line.get(name)]
        if "event_id" in line:
            # document_key is null for an event about no document (acceptance_term_*).
            missing += [
                name
                for name in EVENT_FIELDS
                if name not in line or (not line[name] and name != "document_key")
            ]
        if missing:
            problems.append(f"{service.name} line {number} lacks {missing}: {text[:300]}")
        elif line["service"] != service.name:
            problems.append(f"{service.name} line {number} says service {line['service']!r}")
    if service.unterminated and not service.killed:
        problems.append(f"{service.name} left an unterminated line: {service.unterminated}")
    output = service.output()
    problems += [
        f"{service.name} printed a secret ({secret[:3]}…)" for secret in secrets if secret in output
    ]
    return problems


# -- the two services ---------------------------------------------------------------------------


async def start_ingest(
    processes: ProcessGroup, amqp_url: str, topology: Topology, **variables: str
) -> ServiceProcess:
    """``python -m services.ingest`` on a free port, with the test's webhook secret."""
    port = free_port()
    env = service_env(
        AMQP_URL=amqp_url,
        AMQP_TOPOLOGY_PREFIX=topology.prefix,
        CLICKSIGN_WEBHOOK_SECRET=WEBHOOK_SECRET,
        INGEST_HOST="127.0.0.1",
        INGEST_PORT=str(port),
        INGEST_SHUTDOWN_TIMEOUT_SECONDS=f"{SHUTDOWN_SECONDS:g}",
        **variables,
    )
    return await processes.start("ingest", "services.ingest", env, port)


def crm_writer_env(
    *,
    amqp_url: str,
    topology: Topology,
    port: int,
    store_url: str,
    rd_url: str,
    token: str | None = None,
    stage_id: str | None = None,
    **variables: str,
) -> dict[str, str]:
    """crm_writer's environment: the sandbox mode without ``token`` (``RDSTATION_SANDBOX_URL``),
    the real-token path with it (``RDSTATION_CRM_TOKEN`` + ``RDSTATION_CRM_BASE_URL``)."""
    rd = (
        {"RDSTATION_SANDBOX_URL": rd_url}
        if token is None
        else {"RDSTATION_CRM_TOKEN": token, "RDSTATION_CRM_BASE_URL": rd_url}
    )
    if stage_id is not None:
        rd["RDSTATION_DEAL_STAGE_ID"] = stage_id
    defaults = {
        "RDSTATION_RATE_LIMIT_PER_MINUTE": "6000",
        "RDSTATION_TIMEOUT_SECONDS": "10",
        "CRM_WRITER_SHUTDOWN_TIMEOUT_SECONDS": f"{SHUTDOWN_SECONDS:g}",
    }
    return service_env(
        AMQP_URL=amqp_url,
        AMQP_TOPOLOGY_PREFIX=topology.prefix,
        CRM_WRITER_HOST="127.0.0.1",
        CRM_WRITER_PORT=str(port),
        STORE_URL=store_url,
        **rd,
        **{**defaults, **variables},
    )
