"""What only the store tests use: a lock held by another process, and waiting for a condition.

Every store test runs twice, against SQLite in a temporary directory and against PostgreSQL:
the ``store`` fixture (``tests/plugins/stores.py``) has both backends."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBPROCESS_WAIT = 30.0


StartLockHolder = Callable[[str], Awaitable["LockHolder"]]


class LockHolder:
    """``tests.store.lock_holder`` running as a separate process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, name: str, lease_ttl: float = 1.0) -> LockHolder:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.lock_holder",
            url,
            name,
            str(lease_ttl),
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        holder = cls(process)
        await holder.expect("locked")
        return holder

    async def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        got = await asyncio.wait_for(self.process.stdout.readline(), SUBPROCESS_WAIT)
        if got.decode().strip() != line:
            assert self.process.stderr is not None
            self.process.kill()
            errors = await asyncio.wait_for(self.process.stderr.read(), SUBPROCESS_WAIT)
            pytest.fail(f"lock holder said {got!r}, not {line!r}:\n{errors.decode()}")

    async def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"release\n")
        await self.process.stdin.drain()
        await self.expect("released")
        await asyncio.wait_for(self.process.wait(), SUBPROCESS_WAIT)

    async def kill(self) -> None:
        """SIGKILL: no cleanup code of the holder runs."""
        self.process.kill()
        await asyncio.wait_for(self.process.wait(), SUBPROCESS_WAIT)


@pytest_asyncio.fixture
async def start_lock_holder(store_url: str) -> AsyncIterator[StartLockHolder]:
    """Starts a process holding the named lock on the test's database; killed after the test."""
    holders: list[LockHolder] = []

    async def start(name: str) -> LockHolder:
        holder = await LockHolder.start(store_url, name)
        holders.append(holder)
        return holder

    yield start
    for holder in holders:
        if holder.process.returncode is None:
            await holder.kill()


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``condition()`` holds, checking often; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)
