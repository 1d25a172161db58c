"""Fixtures only the ``signdeal`` command's tests use: its environment, in-process runs of it, and
ingest and crm_writer in process (the sandbox, the broker and the stores come from
``tests/plugins``).

The command runs in a worker thread (it calls ``asyncio.run``), while the sandbox and the
services it talks to run on the test's own loop, on real ports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.app import create_app as create_crm_writer_app
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import Store
from services.ingest.app import create_app as create_ingest_app
from services.ingest.settings import IngestSettings
from shared.topology import Topology, delete_topology
from signdeal_cli.main import main

WEBHOOK_SECRET = "cli-test-secret"
READY_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


RunCli = Callable[..., Awaitable[CliResult]]


def command_lines(err: str) -> list[str]:
    """The command's own lines on stderr, without the log lines of the services the test runs
    in the same process."""
    return [line for line in err.splitlines() if line.startswith("signdeal: ")]


@pytest.fixture
def env(
    clean_env: pytest.MonkeyPatch,
    rd: SandboxServer,
    amqp_url: str,
    topology: Topology,
    sqlite_store_url: str,
) -> pytest.MonkeyPatch:
    """The command's environment: sandbox mode against the in-process sandbox (RD's API and
    Clicksign's), the test's AMQP names, a SQLite store not created yet."""
    clean_env.setenv("RDSTATION_SANDBOX_URL", rd.url)
    clean_env.setenv("CLICKSIGN_ACCESS_TOKEN", rd.clicksign_token)
    clean_env.setenv("CLICKSIGN_API_BASE_URL", rd.clicksign_url)
    clean_env.setenv("RDSTATION_RATE_LIMIT_PER_MINUTE", "60000")
    clean_env.setenv("AMQP_URL", amqp_url)
    clean_env.setenv("AMQP_TOPOLOGY_PREFIX", topology.prefix)
    clean_env.setenv("STORE_URL", sqlite_store_url)
    return clean_env


@pytest.fixture
def command_store(store: Store, store_url: str, env: pytest.MonkeyPatch) -> Store:
    """A store of each backend with history to read (`store`): the one STORE_URL names."""
    env.setenv("STORE_URL", store_url)
    return store


@pytest.fixture
def signdeal(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """``await signdeal("check", "--json")``: exit code and what the command printed."""

    async def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


# -- ingest and crm_writer, in process, on real ports -----------------------------------------


@dataclass(frozen=True)
class RunningServices:
    ingest_url: str
    crm_writer_url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.ingest_url}/webhooks/clicksign"


@pytest.fixture
def writer_api_token() -> str | None:
    """crm_writer's CRM_WRITER_API_TOKEN in ``services``; parametrize it to give one."""
    return None


@pytest_asyncio.fixture
async def services(
    amqp_url: str,
    topology: Topology,
    rd: SandboxServer,
    sqlite_store_url: str,
    writer_api_token: str | None,
) -> AsyncIterator[RunningServices]:
    writer = CrmWriterSettings(
        amqp_url=amqp_url,
        amqp_topology_prefix=topology.prefix,
        store_url=sqlite_store_url,
        rdstation_sandbox_url=rd.url,
        rdstation_rate_limit_per_minute=60_000,
        clicksign_access_token=rd.clicksign_token,
        clicksign_api_base_url=rd.clicksign_url,
        crm_writer_api_token=writer_api_token,
    )
    ingest = IngestSettings(
        amqp_url=amqp_url,
        amqp_topology_prefix=topology.prefix,
        clicksign_webhook_secret=WEBHOOK_SECRET,
    )
    async with (
        _served(create_crm_writer_app(writer)) as writer_url,
        _served(create_ingest_app(ingest, topology=Topology(prefix=topology.prefix))) as ingest_url,
    ):
        await _wait_ready(writer_url)
        await _wait_ready(ingest_url)
        yield RunningServices(ingest_url, writer_url)
    # The crm_writer app declares the default retry tiers under the test prefix.
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), Topology(prefix=topology.prefix))


class _served:
    """Serve an aiohttp app on a free port of 127.0.0.1; the context value is its base URL."""

    def __init__(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app, access_log=None)

    async def __aenter__(self) -> str:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()


async def _wait_ready(base_url: str) -> None:
    deadline = asyncio.get_running_loop().time() + READY_WAIT_SECONDS
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{base_url}/readyz") as answer:
                if answer.status == 200:
                    return
            assert asyncio.get_running_loop().time() < deadline, f"{base_url} never became ready"
            await asyncio.sleep(0.1)
