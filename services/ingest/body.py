"""Reading a webhook's body before anyone knows who sent it: bounded in time, in number, and
given back to the system afterwards.

The signature can only be checked on the whole body, so every client, signed or not, gets to
send one. `BodyGate` bounds how many are read at once (what ingest can be made to hold is
``INGEST_MAX_CONCURRENT_BODIES * INGEST_MAX_BODY_BYTES``; a connection waiting for its turn holds
no more than aiohttp's read buffer), and a deadline bounds how long one may take. glibc keeps the
memory of freed bodies for reuse instead of returning it (80 bodies of 1 MiB left ingest 50 MiB
bigger for good): once the gate is idle after large reads, it collects the cycles closed
connections leave and asks malloc to give the memory back.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import Callable

from aiohttp import web

# How long a webhook waits for a free slot before it is told to come back later (503).
SLOT_WAIT_SECONDS = 1.0
# Bytes read since memory was last given back, past which an idle gate gives it back (a trim
# costs about 10 ms when there is much to return, under 1 ms otherwise).
RETURN_MEMORY_AFTER_BYTES = 8 * 1024 * 1024
RETURN_MEMORY_DELAY_SECONDS = 1.0


class BodyTooSlow(Exception):
    """The body did not arrive within the deadline (408)."""


class BodyGateFull(Exception):
    """Every slot was taken for longer than `SLOT_WAIT_SECONDS` (503)."""


class BodyAbandoned(Exception):
    """The client closed the connection before sending the whole body."""


def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``; nothing where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is None:
        return lambda: None
    return lambda: trim(0)


class BodyGate:
    """At most ``slots`` bodies read at once, each within ``timeout_seconds``."""

    def __init__(
        self, slots: int, timeout_seconds: float, return_memory: Callable[[], None] | None = None
    ) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._timeout = timeout_seconds
        self._return_memory = return_memory or _malloc_trim()
        self._reading = 0
        self._unreturned = 0
        self._return_scheduled = False

    async def read(self, request: web.Request) -> bytes:
        """The request's body; over ``client_max_size`` raises aiohttp's 413 like
        ``request.read()``."""
        # A free slot, or a body that has already arrived whole (most webhooks fit in a packet
        # or two), needs no deadline: a deadline is a timer set and cancelled per request.
        if self._slots.locked():
            try:
                async with asyncio.timeout(SLOT_WAIT_SECONDS):
                    await self._slots.acquire()
            except TimeoutError:
                self._after_read(request.content.total_bytes)  # what aiohttp buffered meanwhile
                raise BodyGateFull from None
        else:
            await self._slots.acquire()  # returns at once: nothing ran since locked() said so
        self._reading += 1
        try:
            if request.content.is_eof():
                return await request.read()
            async with asyncio.timeout(self._timeout):
                return await request.read()
        except TimeoutError:
            raise BodyTooSlow from None
        except ConnectionResetError:
            raise BodyAbandoned from None
        finally:
            self._reading -= 1
            self._slots.release()
            self._after_read(request.content.total_bytes)

    def _after_read(self, size: int) -> None:
        self._unreturned += size
        if self._unreturned >= RETURN_MEMORY_AFTER_BYTES and not self._return_scheduled:
            # A moment later, once the connections that sent those bodies have let go of them.
            self._return_scheduled = True
            asyncio.get_running_loop().call_later(RETURN_MEMORY_DELAY_SECONDS, self._give_back)

    def _give_back(self) -> None:
        self._return_scheduled = False
        if self._reading:
            return  # the last read to finish schedules it again
        self._unreturned = 0
        # Closed connections hold their buffers in reference cycles until the collector runs.
        gc.collect()
        self._return_memory()
