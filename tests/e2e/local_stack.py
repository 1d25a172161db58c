"""``make run`` (``python -m sandbox.local_stack``) as a process, for tests: started the way a
terminal starts it — in a process group of its own, so that `interrupt` is the terminal's Ctrl-C,
SIGINT to the whole foreground group — in a folder of the test's, on free ports, with the
test's AMQP names.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sandbox.process_env import free_port, service_env
from shared.topology import Topology
from tests.service_processes import REPO_ROOT, WEBHOOK_SECRET, wait_until

BANNER = "signdeal is running"
START_SECONDS = 120.0  # a loaded CI machine starts three processes slowly


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: read from /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            if fields.get("PPid", "").strip() == str(pid):
                found.append(int(status.parent.name))
    return found


def is_alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


@dataclass
class LocalStack:
    process: asyncio.subprocess.Process
    folder: Path
    ports: dict[str, int]
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['INGEST_PORT']}"

    @property
    def writer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['CRM_WRITER_PORT']}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['RDSTATION_SANDBOX_PORT']}"

    def json_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines if line.startswith("{")]

    def said(self, service: str, event: str) -> bool:
        return any(
            line.get("service") == service and line.get("event") == event
            for line in self.json_lines()
        )

    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_until_running(self) -> None:
        await wait_until(lambda: BANNER in self.lines, "make run's banner", START_SECONDS)
        self.children = children_of(self.process.pid)

    def interrupt(self) -> None:
        """Ctrl-C in the terminal: SIGINT to every process of the foreground group."""
        os.killpg(self.process.pid, signal.SIGINT)

    async def wait_for_exit(self) -> int:
        code = await self.process.wait()
        await asyncio.gather(*self._readers)
        return code

    async def close(self) -> None:
        """Whatever still runs is killed, by its own process group or PID."""
        for pid in [self.process.pid, *self.children]:
            if is_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait_for_exit(), 10)

    async def _read(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        async for raw in stream:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))


async def start_local_stack(
    folder: Path, amqp_url: str, topology: Topology, **variables: str
) -> LocalStack:
    """``python -m sandbox.local_stack`` in ``folder`` (its ``data/`` goes there)."""
    ports = {
        name: free_port() for name in ("INGEST_PORT", "CRM_WRITER_PORT", "RDSTATION_SANDBOX_PORT")
    }
    env = service_env(
        AMQP_URL=amqp_url,
        AMQP_TOPOLOGY_PREFIX=topology.prefix,
        CLICKSIGN_WEBHOOK_SECRET=WEBHOOK_SECRET,
        INGEST_HOST="127.0.0.1",
        PYTHONPATH=str(REPO_ROOT),
        **{name: str(port) for name, port in ports.items()},
        **variables,
    )
    env.pop("SANDBOX_LOG_REQUESTS", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.local_stack",
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        limit=4 * 1024 * 1024,
    )
    stack = LocalStack(process, folder, ports, env)
    stack._readers = [asyncio.create_task(stack._read(process.stdout))]
    return stack
