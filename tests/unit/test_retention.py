"""The retention task keeps going when a run fails, and logs counts, never data."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from unittest.mock import AsyncMock

import orjson

from services.crm_writer.observer import NullObserver
from services.crm_writer.retention import HistoryRetention, retention_cutoff


def test_the_cutoff_is_the_retention_before_now() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert retention_cutoff(now, 90) == now - timedelta(days=90)


async def test_a_failed_run_is_logged_and_the_next_one_runs(crm_writer_log: io.StringIO) -> None:
    stream = crm_writer_log
    store = AsyncMock()
    store.purge_events.side_effect = [RuntimeError("store down"), 3]
    store.purge_contacts.return_value = 0
    store.clear_deal_names.return_value = 0
    retention = HistoryRetention(store, days=90, observer=NullObserver())

    task = asyncio.create_task(retention.run(interval_seconds=0.01))
    async with asyncio.timeout(5):
        while store.purge_events.await_count < 2:
            await asyncio.sleep(0.01)
    task.cancel()

    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    failed = [line for line in lines if line["event"] == "history.purge_failed"]
    purged = [line for line in lines if line["event"] == "history.purged"]
    assert failed[0]["level"] == "warning"
    assert failed[0]["error"] == "store down"
    assert purged[0]["events"] == 3
    assert set(purged[0]) >= {"events", "contacts", "deal_names", "retention_days", "cutoff"}
