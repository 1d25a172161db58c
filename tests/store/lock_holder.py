"""Holds a store lock in its own process, for the cross-process lock tests.

Usage: ``python -m tests.store.lock_holder STORE_URL LOCK_NAME [LEASE_TTL]``. Prints ``locked``
once it holds the lock, releases it when a line (or EOF) arrives on stdin, then prints
``released``.
"""

from __future__ import annotations

import asyncio
import sys

from services.crm_writer.store import opened
from tests.store.backends import build_store


async def hold(url: str, name: str, lease_ttl: float) -> None:
    async with opened(build_store(url, lease_ttl)) as store, store.lock(name, timeout=30):
        print("locked", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    print("released", flush=True)


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 1.0))
