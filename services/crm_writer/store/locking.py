"""What both backends' locks share: an in-process queue per name, then polling the database.

Coroutines of one process wait for each other on an `asyncio.Lock` (woken at once, in order, with
no database traffic and, for PostgreSQL, no connection held while waiting); only the one at the
front polls the database lock, which keeps other processes out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from services.crm_writer.store.base import LockTimeout
from shared.pseudonyms import lock_label

_FIRST_DELAY = 0.01
_MAX_DELAY = 0.25


class LocalQueues:
    """One `asyncio.Lock` per lock name, dropped once nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def first_in_line(self, name: str, *, within: float) -> AsyncIterator[float]:
        """Hold ``name`` within this process; yields the seconds left of ``within``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._users[name] = self._users.get(name, 0) + 1
        try:
            await _acquire(lock, name, within)
            try:
                yield max(0.0, deadline - loop.time())
            finally:
                lock.release()
        finally:
            self._users[name] -= 1
            if not self._users[name]:
                del self._users[name], self._locks[name]


async def _acquire(lock: asyncio.Lock, name: str, within: float) -> None:
    if not lock.locked():
        await lock.acquire()  # free: taken without suspending
        return
    try:
        async with asyncio.timeout(within):
            await lock.acquire()
    except TimeoutError:
        raise _timeout(name, within) from None


async def poll_for_lock(
    try_take: Callable[[], Awaitable[bool]], *, name: str, within: float
) -> None:
    """Call ``try_take`` with growing pauses until it answers True; `LockTimeout` after
    ``within`` seconds. It is always tried at least once, and once more at the deadline.

    A deadline rather than `asyncio.timeout`: cancelling a try half-way could leave the lock
    taken with nobody knowing it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = _FIRST_DELAY
    while not await try_take():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _timeout(name, within)
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY)


def _timeout(name: str, within: float) -> LockTimeout:
    # The message reaches the history and WARNING lines: a contact lock's e-mail stays out.
    return LockTimeout(f"lock {lock_label(name)!r} is still held elsewhere after {within:g} s")
