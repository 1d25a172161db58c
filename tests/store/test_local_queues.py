"""The in-process queue in front of the database lock."""

from __future__ import annotations

import asyncio

import pytest

from services.crm_writer.store import LockTimeout
from services.crm_writer.store.locking import LocalQueues


async def test_free_name_is_taken_even_with_no_time_to_wait() -> None:
    queues = LocalQueues()

    async with queues.first_in_line("document:doc-1", within=0) as remaining:
        assert remaining == 0


async def test_held_name_times_out() -> None:
    queues = LocalQueues()

    async with queues.first_in_line("document:doc-1", within=1):
        with pytest.raises(LockTimeout):
            async with queues.first_in_line("document:doc-1", within=0.05):
                pass


async def test_waiter_gets_the_name_when_it_is_released() -> None:
    queues = LocalQueues()
    order: list[str] = []

    async def second() -> None:
        async with queues.first_in_line("document:doc-1", within=5):
            order.append("second")

    async with queues.first_in_line("document:doc-1", within=1):
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0)
        order.append("first")
    await asyncio.wait_for(waiter, 5)

    assert order == ["first", "second"]


async def test_names_nobody_uses_are_forgotten() -> None:
    queues = LocalQueues()

    async with queues.first_in_line("document:doc-1", within=1):
        with pytest.raises(LockTimeout):
            async with queues.first_in_line("document:doc-1", within=0):
                pass

    assert queues._locks == {}
    assert queues._users == {}
