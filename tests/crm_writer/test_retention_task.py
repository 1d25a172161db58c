"""crm_writer purges the history past HISTORY_RETENTION_DAYS by itself, and counts it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.crm_writer.store import EventStatus, open_store, opened
from services.crm_writer.store.sql import SqlStore
from tests.clicksign_events import minimal_event
from tests.crm_writer.conftest import StartClient
from tests.crm_writer.test_http import metric_samples

WAIT_SECONDS = 20.0


async def test_an_event_past_the_retention_is_purged_when_crm_writer_starts(
    start_client: StartClient, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path}/retention.db"
    async with opened(open_store(store_url)) as store:
        assert isinstance(store, SqlStore)
        for event_id in ("old", "old-parked", "recent"):
            await store.begin_attempt(minimal_event(event_id, document_key=f"doc-{event_id}"))
        await store.finish_event("old-parked", status=EventStatus.PARKED)
        long_ago = store._timestamp(datetime.now(UTC) - timedelta(days=31))
        await store._fetch(
            "UPDATE events SET last_attempt_at = $1 WHERE event_id IN ('old', 'old-parked')",
            long_ago,
        )

    client = await start_client(store_url=store_url, history_retention_days=30)

    purged = ("signdeal_history_purged_rows_total", "kind=events")
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while (await metric_samples(client)).get(purged) != 1:
        assert asyncio.get_running_loop().time() < deadline, "the old event was never purged"
        await asyncio.sleep(0.05)
    assert (await client.get("/events/old")).status == 404
    assert (await client.get("/events/old-parked")).status == 200
    assert (await client.get("/events/recent")).status == 200
    found = await metric_samples(client)
    assert found[("signdeal_history_purged_rows_total", "kind=contacts")] == 0
    assert found[("signdeal_history_purged_rows_total", "kind=deal_names")] == 0
