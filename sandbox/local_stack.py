"""``make run``: ingest, crm_writer and — without an RD token or a Clicksign token — the sandbox
(RD Station's API and Clicksign's), together.

Each runs as its own process with its real command (``python -m services.ingest`` …), sharing this
terminal, each in a process group of its own: Ctrl-C reaches this process only, which stops
ingest and crm_writer (SIGTERM, with short shutdown timeouts), then the sandbox, and kills what
has not stopped within the bound. Configuration comes from the environment as usual; what a first
run needs and does not have (a webhook secret, a store path) gets a local default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass

import aio_pika
import aiohttp
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError

from sandbox import local_data
from sandbox.clicksign_api import DEFAULT_CLICKSIGN_TOKEN
from sandbox.rdstation.server import SHUTDOWN_TIMEOUT_SECONDS as SANDBOX_SHUTDOWN_TIMEOUT_SECONDS
from services.crm_writer.settings import CrmWriterSettings
from services.ingest.settings import IngestSettings
from shared.connection_errors import describe_broker_failure
from shared.settings import DEFAULT_AMQP_URL

SANDBOX_PORT = int(os.environ.get("RDSTATION_SANDBOX_PORT", "8090"))
SANDBOX_MODULE = "sandbox.rdstation"
LOCAL_SECRET = "signdeal-local-only-secret"  # noqa: S105 - printed on purpose, local use only
BROKER_CHECK_SECONDS = 5.0
READY_NOTICE_SECONDS = 15.0
# Ctrl-C on a workstation: events in hand get this long (each service's shutdown timeout, unless
# the environment sets one); what is left is redelivered by the broker at the next start.
LOCAL_SHUTDOWN_SECONDS = "3"
STOP_MARGIN_SECONDS = 2.0
SANDBOX_STOP_SECONDS = SANDBOX_SHUTDOWN_TIMEOUT_SECONDS + STOP_MARGIN_SECONDS


@dataclass
class Service:
    name: str
    module: str
    ready_url: str


def local_environment() -> tuple[dict[str, str], list[str]]:
    """The environment for the child processes, and notes on what was defaulted."""
    env = dict(os.environ)
    notes = []
    if not env.get("CLICKSIGN_WEBHOOK_SECRET"):
        env["CLICKSIGN_WEBHOOK_SECRET"] = LOCAL_SECRET
        notes.append(
            f"CLICKSIGN_WEBHOOK_SECRET was not set: using the local-only secret {LOCAL_SECRET!r};"
            " set the one Clicksign shows for real webhooks"
        )
    env.setdefault("STORE_URL", local_data.STORE_URL)
    # The history holds signers' personal data: on a workstation, this machine only.
    env.setdefault("CRM_WRITER_HOST", "127.0.0.1")
    env.setdefault("LOG_FORMAT", "json")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("INGEST_SHUTDOWN_TIMEOUT_SECONDS", LOCAL_SHUTDOWN_SECONDS)
    env.setdefault("CRM_WRITER_SHUTDOWN_TIMEOUT_SECONDS", LOCAL_SHUTDOWN_SECONDS)
    if not env.get("RDSTATION_CRM_TOKEN"):
        env["RDSTATION_SANDBOX_URL"] = f"http://127.0.0.1:{SANDBOX_PORT}/api/v1"
    if not env.get("CLICKSIGN_ACCESS_TOKEN"):
        env["CLICKSIGN_ACCESS_TOKEN"] = DEFAULT_CLICKSIGN_TOKEN
        env["CLICKSIGN_API_BASE_URL"] = sandbox_root()
        notes.append(
            "CLICKSIGN_ACCESS_TOKEN was not set: thin webhooks are completed from the bundled "
            f"Clicksign API sandbox at {sandbox_root()} (try `signdeal send-test --thin`)"
        )
    forgotten = _store_without_sandbox_state(env)
    if forgotten:
        notes.append(forgotten)
    return env, notes


def _store_without_sandbox_state(env: dict[str, str]) -> str | None:
    """The store remembers deals of a sandbox whose state is gone (a make run from before the
    sandbox kept it): new deals would get ids the store already gives to old documents."""
    store = local_data.STORE_FILE
    if env["STORE_URL"] != local_data.STORE_URL or not needs_sandbox(env) or not store.exists():
        return None
    if local_data.SANDBOX_STATE_FILE.exists():
        return None
    return (
        f"{store} remembers deals the sandbox no longer has ({local_data.SANDBOX_STATE_FILE} "
        "is missing): `make reset` starts both fresh"
    )


def sandbox_arguments(env: dict[str, str]) -> list[str]:
    """The sandbox's command line: its line per request only with ``SANDBOX_LOG_REQUESTS=1``
    (``make run VERBOSE=1``); otherwise they would be half of what ``make run`` prints."""
    arguments = ["--host", "127.0.0.1", "--port", str(SANDBOX_PORT)]
    arguments += ["--state-file", str(local_data.SANDBOX_STATE_FILE)]
    if env.get("SANDBOX_LOG_REQUESTS", "").strip().lower() in ("1", "true", "yes"):
        arguments.append("--log-requests")
    return arguments


def sandbox_root() -> str:
    return f"http://127.0.0.1:{SANDBOX_PORT}"


def needs_sandbox(env: dict[str, str]) -> bool:
    """The sandbox plays RD without an RD token, and Clicksign's API without a Clicksign one."""
    return not env.get("RDSTATION_CRM_TOKEN") or env.get("CLICKSIGN_API_BASE_URL") == sandbox_root()


def services(env: dict[str, str]) -> list[Service]:
    ingest_port = env.get("INGEST_PORT", "8080")
    writer_port = env.get("CRM_WRITER_PORT", "8081")
    chosen = []
    if needs_sandbox(env):
        chosen.append(
            Service(
                "rd-sandbox",
                SANDBOX_MODULE,
                f"http://127.0.0.1:{SANDBOX_PORT}/__sandbox/state",
            )
        )
    chosen.append(Service("ingest", "services.ingest", f"http://127.0.0.1:{ingest_port}/readyz"))
    chosen.append(
        Service("crm_writer", "services.crm_writer", f"http://127.0.0.1:{writer_port}/readyz")
    )
    return chosen


def banner(env: dict[str, str], notes: list[str]) -> str:
    ingest = f"http://127.0.0.1:{env.get('INGEST_PORT', '8080')}"
    writer = f"http://127.0.0.1:{env.get('CRM_WRITER_PORT', '8081')}"
    lines = ["", "=" * 78, "signdeal is running", ""]
    if not env.get("RDSTATION_CRM_TOKEN"):
        lines += [
            "!! NO RDSTATION_CRM_TOKEN: deals go to the bundled RD Station SANDBOX",
            f"!! at http://127.0.0.1:{SANDBOX_PORT}/api/v1 — nothing reaches a real RD account.",
            "",
        ]
    lines += [f"note: {note}" for note in notes]
    lines += [
        f"webhook endpoint : POST {ingest}/webhooks/clicksign",
        "send a signed sample webhook and follow it to its deal:",
        f"    CLICKSIGN_WEBHOOK_SECRET={_secret_hint(env)} .venv/bin/signdeal send-test \\\n"
        f"        --url {ingest}/webhooks/clicksign --history-url {writer} --signers 2",
        "    (two signers on the document; a sign links its signer: the deal gets one contact)",
        f"event history    : curl{_auth_hint(env)} {writer}/events"
        f"   (one event: {writer}/events/<event_id>)",
        "                   or: .venv/bin/signdeal history",
    ]
    if not env.get("RDSTATION_CRM_TOKEN"):
        lines += [
            f"sandbox deals    : curl http://127.0.0.1:{SANDBOX_PORT}/__sandbox/state",
            "                   token sandbox-token; fault switches (fail, hang, 429, latency):"
            " sandbox/rdstation/README.md",
        ]
    if env.get("CLICKSIGN_API_BASE_URL") == sandbox_root():
        lines.append(
            f"Clicksign sandbox: curl {sandbox_root()}/__sandbox/clicksign/documents"
            "   (send-test --thin registers its document there)"
        )
    lines += [
        "stop             : Ctrl-C; the next make run goes on from data/ (the store and the"
        " sandbox's deals); `make reset` starts fresh",
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


def _auth_hint(env: dict[str, str]) -> str:
    # The token itself is never printed; curl reads it from the operator's shell.
    if env.get("CRM_WRITER_API_TOKEN", "").strip():
        return ' -H "Authorization: Bearer $CRM_WRITER_API_TOKEN"'
    return ""


def _secret_hint(env: dict[str, str]) -> str:
    # A secret the operator configured is never printed; the local default is not a secret.
    if env["CLICKSIGN_WEBHOOK_SECRET"] == LOCAL_SECRET:
        return LOCAL_SECRET
    return '"$CLICKSIGN_WEBHOOK_SECRET"'


async def broker_problem(env: dict[str, str]) -> str | None:
    """Why RabbitMQ cannot be used (one line naming AMQP_URL and the fix), or None. Checked
    before anything starts: without a broker nothing becomes ready."""
    url = env.get("AMQP_URL") or DEFAULT_AMQP_URL
    # aiormq would print its own copy of the failure on stderr: the line below says it all.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    try:
        connection = await aio_pika.connect(url, timeout=BROKER_CHECK_SECONDS)
    except (*CONNECTION_EXCEPTIONS, TimeoutError, AMQPError) as exc:
        return describe_broker_failure(url, exc)
    await connection.close()
    return None


@dataclass
class Child:
    """One service of the stack, running in a process group of its own: the terminal's Ctrl-C
    reaches this process only, which stops every child in order and within a bound."""

    service: Service
    process: asyncio.subprocess.Process

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


class Stack:
    """The children started so far; `stop` ends them all, whatever state they are in."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[Child] = []
        self.stopping = asyncio.Event()
        self.kill_now = asyncio.Event()

    async def start(self, service: Service) -> Child:
        arguments = [sys.executable, "-m", service.module]
        if service.module == SANDBOX_MODULE:
            arguments += sandbox_arguments(self.env)
        process = await asyncio.create_subprocess_exec(*arguments, env=self.env, process_group=0)
        child = Child(service, process)
        self.children.append(child)
        return child

    def on_signal(self, signum: signal.Signals) -> None:
        if self.stopping.is_set() and signum == signal.SIGINT:
            print("make run: Ctrl-C again: killing what is left", file=sys.stderr, flush=True)
            self.kill_now.set()
        self.stopping.set()

    async def wait_ready(self, child: Child) -> bool:
        """Poll the child's readiness URL until it answers 200, it exits, or we are stopped."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        told = False
        async with aiohttp.ClientSession() as session:
            while child.running and not self.stopping.is_set():
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    timeout = aiohttp.ClientTimeout(total=2)
                    async with session.get(child.service.ready_url, timeout=timeout) as answer:
                        if answer.status == 200:
                            return True
                if not told and loop.time() - started > READY_NOTICE_SECONDS:
                    print(
                        f"make run: still waiting for {child.service.name} to be ready "
                        "(its lines above say what it waits for)",
                        file=sys.stderr,
                        flush=True,
                    )
                    told = True
                await asyncio.sleep(0.3)
        return False

    async def stop(self) -> None:
        """SIGTERM to ingest and crm_writer, then to the sandbox they may still be calling; a
        child still running after its services' shutdown timeouts (plus a margin) is killed."""
        services = [child for child in self.children if child.service.module != SANDBOX_MODULE]
        sandboxes = [child for child in self.children if child.service.module == SANDBOX_MODULE]
        await self._stop(services, stop_bound_seconds(self.env))
        await self._stop(sandboxes, SANDBOX_STOP_SECONDS)

    async def _stop(self, children: list[Child], bound: float) -> None:
        running = [child for child in children if child.running]
        for child in running:
            child.signal(signal.SIGTERM)
        if not running:
            return
        exits = asyncio.create_task(_exited(running))
        killer = asyncio.create_task(self.kill_now.wait())
        await asyncio.wait([exits, killer], timeout=bound, return_when=asyncio.FIRST_COMPLETED)
        killer.cancel()
        for child in running:
            if child.running:
                print(
                    f"make run: {child.service.name} did not stop within {bound:g} s: killed",
                    file=sys.stderr,
                    flush=True,
                )
                child.signal(signal.SIGKILL)
        await exits


async def _exited(children: list[Child]) -> None:
    await asyncio.gather(*(child.process.wait() for child in children))


def stop_bound_seconds(env: dict[str, str]) -> float:
    """How long ingest and crm_writer get to stop: the longer of their shutdown timeouts, and a
    margin for what follows them (closing the broker connection and the store)."""
    timeouts = [
        _seconds(
            env.get("INGEST_SHUTDOWN_TIMEOUT_SECONDS"),
            IngestSettings.model_fields["ingest_shutdown_timeout_seconds"].default,
        ),
        _seconds(
            env.get("CRM_WRITER_SHUTDOWN_TIMEOUT_SECONDS"),
            CrmWriterSettings.model_fields["crm_writer_shutdown_timeout_seconds"].default,
        ),
    ]
    return max(timeouts) + STOP_MARGIN_SECONDS


def _seconds(text: str | None, default: float) -> float:
    # A value the service refuses stops it at start-up, with its own line; here it must not
    # stop the stopping.
    try:
        return float(text) if text else default
    except ValueError:
        return default


async def run() -> int:
    env, notes = local_environment()
    stack = Stack(env)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stack.on_signal, signum)
    problem = await broker_problem(env)
    if problem is not None:
        print(f"make run: {problem}", file=sys.stderr)
        return 1
    local_data.DATA_FOLDER.mkdir(exist_ok=True)
    try:
        for service in services(env):
            child = await stack.start(service)
            if not await stack.wait_ready(child):
                if stack.stopping.is_set():
                    return 0
                print(f"{service.name} did not become ready; see its output above", file=sys.stderr)
                return 1
        print(banner(env, notes), flush=True)
        exits = [asyncio.create_task(child.process.wait()) for child in stack.children]
        stopper = asyncio.create_task(stack.stopping.wait())
        await asyncio.wait([*exits, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        return 0 if stack.stopping.is_set() else 1
    finally:
        await stack.stop()
        print("make run: stopped", file=sys.stderr, flush=True)


def health_urls(env: dict[str, str]) -> list[str]:
    """Where make run's processes answer while they run."""
    return [
        f"http://127.0.0.1:{env.get('INGEST_PORT', '8080')}/healthz",
        f"http://127.0.0.1:{env.get('CRM_WRITER_PORT', '8081')}/healthz",
        f"{sandbox_root()}/__sandbox/faults",
    ]


async def reset() -> int:
    """``make reset``: make run's local data removed, each thing said."""
    env, _ = local_environment()
    report = await local_data.reset(env, health_urls(env))
    for line in report.lines():
        print(line, file=sys.stderr if report.refused else sys.stdout)
    return 1 if report.refused else 0


def main() -> None:
    if sys.argv[1:] == ["reset"]:
        sys.exit(asyncio.run(reset()))
    if sys.argv[1:]:
        sys.exit("usage: python -m sandbox.local_stack [reset]")
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
