"""Store locks: one holder per name, across coroutines and processes, freed when a holder dies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.crm_writer.store import LockTimeout, Store, opened
from tests.store.backends import LEASE_TTL, build_store
from tests.store.conftest import LockHolder, StartLockHolder

DOCUMENT_LOCK = "document:doc-1"
WAIT = 15.0


async def test_coroutines_take_the_lock_one_at_a_time(store: Store) -> None:
    counter = 0

    async def increment() -> None:
        nonlocal counter
        async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
            seen = counter
            await asyncio.sleep(0.001)
            counter = seen + 1

    await asyncio.gather(*(increment() for _ in range(10)))

    assert counter == 10


async def test_stores_sharing_a_database_take_the_lock_one_at_a_time(
    store: Store, store_url: str
) -> None:
    """Two stores in one process queue separately, so only the database lock keeps them apart."""
    counter = 0

    async def increment(through: Store) -> None:
        nonlocal counter
        async with through.lock(DOCUMENT_LOCK, timeout=WAIT):
            seen = counter
            await asyncio.sleep(0.001)
            counter = seen + 1

    async with opened(build_store(store_url)) as other:
        await asyncio.gather(*(increment(through) for through in [store, other] * 5))

    assert counter == 10


async def test_lock_times_out_while_held(store: Store) -> None:
    async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
        with pytest.raises(LockTimeout):
            async with store.lock(DOCUMENT_LOCK, timeout=0.2):
                pass


async def test_other_names_are_not_blocked(store: Store) -> None:
    async with store.lock(DOCUMENT_LOCK, timeout=WAIT), store.lock("document:doc-2", timeout=0):
        pass


async def test_lock_is_released_when_the_body_raises(store: Store) -> None:
    with pytest.raises(RuntimeError, match="RD exploded"):
        async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
            raise RuntimeError("RD exploded")

    async with store.lock(DOCUMENT_LOCK, timeout=0):
        pass


async def test_cancelled_waiter_leaves_the_lock_free(store: Store) -> None:
    waiting = asyncio.Event()

    async def wait_for_lock() -> None:
        waiting.set()
        async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
            pass

    async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
        waiter = asyncio.create_task(wait_for_lock())
        await asyncio.wait_for(waiting.wait(), WAIT)
        waiter.cancel()
        await asyncio.wait([waiter], timeout=WAIT)
        assert waiter.cancelled()

    async with store.lock(DOCUMENT_LOCK, timeout=0):
        pass


async def test_lock_stays_held_past_the_lease_ttl(store: Store) -> None:
    """The holder's lease is renewed: a contender waiting three TTLs still times out."""
    async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
        with pytest.raises(LockTimeout):
            async with store.lock(DOCUMENT_LOCK, timeout=3 * LEASE_TTL):
                pass


async def test_lock_held_by_another_process_excludes_this_one(
    store: Store, start_lock_holder: StartLockHolder
) -> None:
    holder = await start_lock_holder(DOCUMENT_LOCK)

    with pytest.raises(LockTimeout):
        async with store.lock(DOCUMENT_LOCK, timeout=0.5):
            pass

    await holder.release()
    async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
        pass


async def test_lock_of_a_killed_process_is_taken_over(
    store: Store, start_lock_holder: StartLockHolder
) -> None:
    holder = await start_lock_holder(DOCUMENT_LOCK)

    await holder.kill()

    # PostgreSQL frees it when the dead connection ends; SQLite once the lease expires.
    async with store.lock(DOCUMENT_LOCK, timeout=WAIT):
        pass


async def test_sqlite_lock_of_a_dead_local_process_is_taken_before_its_lease_expires(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'signdeal.db'}"
    holder = await LockHolder.start(url, DOCUMENT_LOCK, lease_ttl=600)
    async with opened(build_store(url, lease_ttl=600)) as store:
        with pytest.raises(LockTimeout):
            async with store.lock(DOCUMENT_LOCK, timeout=0.3):
                pass

        await holder.kill()

        # The holder was a process of this machine and it is gone: no 600 s wait.
        async with store.lock(DOCUMENT_LOCK, timeout=5):
            pass
