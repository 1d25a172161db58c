"""What every benchmark needs: service processes, ports, RSS, percentiles, webhooks, the broker.

Loads go to 127.0.0.1 only. Every process a benchmark starts is a `Service` and is stopped by its
own PID (SIGTERM, then SIGKILL); AMQP names carry a per-run prefix and are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
from yarl import URL

from sandbox import process_env
from sandbox.clicksign import (
    DEFAULT_FILENAME,
    build_webhook,
    encode,
    make_signers,
    signed_request,
)
from shared.events import parse_clicksign_webhook
from shared.messages import build_message
from shared.topology import Topology, declare_topology, delete_topology, routing_key_for

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
# A PostgreSQL server where the benchmark may create (and then drop) one database per run.
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The event loop of every process under test (the services' EVENT_LOOP): auto, uvloop or asyncio.
EVENT_LOOP = os.environ.get("BENCH_EVENT_LOOP", "auto")
WEBHOOK_SECRET = "bench-webhook-secret-5e1a"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_LINE_LIMIT = 4 * 1024 * 1024


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def service_env(**variables: str) -> dict[str, str]:
    return process_env.service_env(EVENT_LOOP=EVENT_LOOP, **variables)


def free_port() -> int:
    return process_env.free_port(HOST)


def new_topology(label: str) -> Topology:
    """Fresh AMQP names for one run (default retry tiers, as the services declare them)."""
    return Topology(prefix=f"bench-{label}-{uuid.uuid4().hex[:8]}.")


async def drop_topology(topology: Topology) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        await delete_topology(await connection.channel(), topology)


async def queue_depth(topology: Topology) -> int:
    """Messages ready on the work queue (a passive declare on a plain, non-robust channel)."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.work_queue, passive=True)
        return int(queue.declaration_result.message_count or 0)


async def purge(topology: Topology) -> None:
    """Empty the work queue."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.work_queue, passive=True)
        await queue.purge()


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB, from ``/proc/<pid>/status`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    """A process this benchmark started: its output (bounded unless ``keep_output``) and URL."""

    name: str
    process: asyncio.subprocess.Process
    base_url: str
    started_at: float
    keep_output: bool = False
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    all_lines: list[str] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    ready_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    async def _read(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        async for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(text)
            if self.keep_output:
                self.all_lines.append(text)

    async def wait_ready(self, path: str = "/readyz", limit: float = START_TIMEOUT) -> float:
        """Poll ``path`` every 10 ms until 200; the seconds since the process was spawned."""
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode}:\n"
                        + "\n".join(list(self.lines)[-20:])
                    )
                try:
                    async with session.get(self.base_url + path) as response:
                        if response.status == 200:
                            self.ready_seconds = time.monotonic() - self.started_at
                            return self.ready_seconds
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not ready after {limit:g}s")
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """SIGTERM to our own PID, SIGKILL if it lingers."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def start_service(
    name: str,
    args: list[str],
    env: dict[str, str],
    port: int,
    *,
    keep_output: bool = False,
) -> Service:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        limit=_LINE_LIMIT,
    )
    service = Service(name, process, f"http://{HOST}:{port}", started, keep_output)
    service.readers = [asyncio.create_task(service._read(process.stdout))]
    return service


class Services:
    """Every process of one benchmark; whatever still runs at the end is stopped."""

    def __init__(self) -> None:
        self.started: list[Service] = []

    async def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        port: int,
        *,
        keep_output: bool = False,
    ) -> Service:
        service = await start_service(name, args, env, port, keep_output=keep_output)
        self.started.append(service)
        return service

    async def close(self) -> None:
        await asyncio.gather(*(service.stop() for service in self.started))


@asynccontextmanager
async def services() -> AsyncIterator[Services]:
    group = Services()
    try:
        yield group
    finally:
        await group.close()


def ingest_env(topology: Topology, port: int, **variables: str) -> dict[str, str]:
    return service_env(
        AMQP_URL=AMQP_URL,
        AMQP_TOPOLOGY_PREFIX=topology.prefix,
        CLICKSIGN_WEBHOOK_SECRET=WEBHOOK_SECRET,
        INGEST_HOST=HOST,
        INGEST_PORT=str(port),
        INGEST_SHUTDOWN_TIMEOUT_SECONDS="5",
        **variables,
    )


def crm_writer_env(
    topology: Topology,
    port: int,
    *,
    store_url: str,
    rd_url: str,
    rate_limit_per_minute: int,
    prefetch: int,
    **variables: str,
) -> dict[str, str]:
    return service_env(
        AMQP_URL=AMQP_URL,
        AMQP_TOPOLOGY_PREFIX=topology.prefix,
        CRM_WRITER_HOST=HOST,
        CRM_WRITER_PORT=str(port),
        CRM_WRITER_PREFETCH=str(prefetch),
        CRM_WRITER_SHUTDOWN_TIMEOUT_SECONDS="5",
        STORE_URL=store_url,
        RDSTATION_SANDBOX_URL=rd_url,
        RDSTATION_RATE_LIMIT_PER_MINUTE=str(rate_limit_per_minute),
        RDSTATION_TIMEOUT_SECONDS="15",
        **variables,
    )


# -- Clicksign webhooks -------------------------------------------------------------------------


def webhook(
    index: int, run: str, secret: str = WEBHOOK_SECRET, *, filename: str = DEFAULT_FILENAME
) -> tuple[bytes, dict[str, str]]:
    """The ``index``-th signed ``sign`` webhook of ``run``: its own document, two new signers
    (so every event creates a deal and looks its contact up), about 6 KB like Clicksign's."""
    body = encode(
        build_webhook(
            "sign",
            document_key=str(uuid.uuid5(uuid.NAMESPACE_URL, f"signdeal-bench/{run}/{index}")),
            signers=make_signers(2, seed=index + 1),
            filename=filename,
        )
    )
    return body, signed_request(body, secret, event_name="sign")


async def publish_backlog(topology: Topology, count: int, run: str, in_flight: int = 64) -> float:
    """Publish ``count`` events as ingest would (same message, confirmed, mandatory) straight to
    the broker; declares the topology first. Returns the seconds it took."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(channel, topology)
        exchange = await channel.get_exchange(topology.events_exchange)
        started = time.monotonic()
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                index = next_index
                next_index += 1
                body, _ = webhook(index, run)
                event = parse_clicksign_webhook(body, correlation_id=f"bench-{run}-{index}")
                await exchange.publish(
                    build_message(event), routing_key_for(event.event_name), mandatory=True
                )

        await asyncio.gather(*(worker() for _ in range(min(in_flight, count))))
        return time.monotonic() - started


# -- PostgreSQL ---------------------------------------------------------------------------------


@asynccontextmanager
async def postgres_database(label: str) -> AsyncIterator[str]:
    """A new, empty database on ``BENCH_POSTGRES_URL``'s server for one run; dropped afterwards."""
    name = f"signdeal_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield str(URL(POSTGRES_URL).with_path(f"/{name}"))
    finally:
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# -- the machine --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rabbitmq": _rabbitmq_version(),
        "event_loop": EVENT_LOOP,
        "packages": _versions(
            "aiohttp", "aio-pika", "aiormq", "orjson", "aiosqlite", "asyncpg", "uvloop"
        ),
    }


def _rabbitmq_version() -> str:
    async def ask() -> str:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            properties: Any = connection.transport.connection.server_properties  # type: ignore[union-attr]
            version = properties.get("version", "?")
            return version.decode() if isinstance(version, bytes) else str(version)

    try:
        return asyncio.run(ask())
    except Exception as exc:  # the figure is informative only
        return f"unknown ({type(exc).__name__})"


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found
