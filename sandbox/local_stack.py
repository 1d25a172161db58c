"""``make run``: ingest, crm_writer and — without an RD token or a Clicksign token — the sandbox
(RD Station's API and Clicksign's), together.

Each runs as its own process with its real command (``python -m services.ingest`` …), sharing this
terminal; Ctrl-C stops all three gracefully. Configuration comes from the environment as usual;
what a first run needs and does not have (a webhook secret, a store path) gets a local default.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass

import aiohttp

from sandbox.clicksign_api import DEFAULT_CLICKSIGN_TOKEN

SANDBOX_PORT = int(os.environ.get("RDSTATION_SANDBOX_PORT", "8090"))
READY_TIMEOUT_SECONDS = 60.0
LOCAL_SECRET = "signdeal-local-only-secret"  # noqa: S105 - printed on purpose, local use only


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
    env.setdefault("STORE_URL", "sqlite:///data/signdeal.db")
    # The history holds signers' personal data: on a workstation, this machine only.
    env.setdefault("CRM_WRITER_HOST", "127.0.0.1")
    env.setdefault("LOG_FORMAT", "json")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not env.get("RDSTATION_CRM_TOKEN"):
        env["RDSTATION_SANDBOX_URL"] = f"http://127.0.0.1:{SANDBOX_PORT}/api/v1"
    if not env.get("CLICKSIGN_ACCESS_TOKEN"):
        env["CLICKSIGN_ACCESS_TOKEN"] = DEFAULT_CLICKSIGN_TOKEN
        env["CLICKSIGN_API_BASE_URL"] = sandbox_root()
        notes.append(
            "CLICKSIGN_ACCESS_TOKEN was not set: thin webhooks are completed from the bundled "
            f"Clicksign API sandbox at {sandbox_root()} (try `signdeal send-test --thin`)"
        )
    return env, notes


def sandbox_arguments(env: dict[str, str]) -> list[str]:
    """The sandbox's command line: its line per request only with ``SANDBOX_LOG_REQUESTS=1``
    (``make run VERBOSE=1``); otherwise they would be half of what ``make run`` prints."""
    arguments = ["--host", "127.0.0.1", "--port", str(SANDBOX_PORT)]
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
                "sandbox.rdstation",
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
        f"event history    : curl{_auth_hint(env)} {writer}/events"
        f"   (one event: {writer}/events/<event_id>)",
        "                   or: .venv/bin/signdeal history",
    ]
    if not env.get("RDSTATION_CRM_TOKEN"):
        lines.append(f"sandbox deals    : curl http://127.0.0.1:{SANDBOX_PORT}/__sandbox/state")
    if env.get("CLICKSIGN_API_BASE_URL") == sandbox_root():
        lines.append(
            f"Clicksign sandbox: curl {sandbox_root()}/__sandbox/clicksign/documents"
            "   (send-test --thin registers its document there)"
        )
    lines += ["stop             : Ctrl-C", "=" * 78, ""]
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


async def wait_ready(url: str, process: asyncio.subprocess.Process) -> bool:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline and process.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as answer:
                    if answer.status == 200:
                        return True
            await asyncio.sleep(0.3)
    return False


async def run() -> int:
    env, notes = local_environment()
    os.makedirs("data", exist_ok=True)
    processes: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        for service in services(env):
            args = [sys.executable, "-m", service.module]
            if service.module == "sandbox.rdstation":
                args += sandbox_arguments(env)
            process = await asyncio.create_subprocess_exec(*args, env=env)
            processes.append(process)
            if not await wait_ready(service.ready_url, process):
                print(f"{service.name} did not become ready; see its output above", file=sys.stderr)
                return 1
        print(banner(env, notes), flush=True)
        exits = [asyncio.create_task(process.wait()) for process in processes]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([*exits, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        return 0 if stop.is_set() else 1
    finally:
        await stop_all(processes)


async def stop_all(processes: list[asyncio.subprocess.Process]) -> None:
    for process in reversed(processes):
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), timeout=40)
        except TimeoutError:
            process.kill()


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
