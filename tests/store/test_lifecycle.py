"""Opening, readiness and the schema, on both backends."""

from __future__ import annotations

import asyncio

import pytest

from services.crm_writer.store import EventStatus, Outcome, Store, opened
from services.crm_writer.store.schema import ADDED_COLUMNS, SCHEMA_VERSION, SchemaTooNew
from services.crm_writer.store.sql import SqlStore
from tests.clicksign_events import minimal_event
from tests.store.backends import build_store


async def test_open_store_answers_ping(store: Store) -> None:
    await store.ping()


async def test_closed_store_fails_ping(store_url: str) -> None:
    store = build_store(store_url)
    async with opened(store):
        pass

    with pytest.raises(RuntimeError):
        await store.ping()


async def test_reopening_keeps_the_data(store: Store, store_url: str) -> None:
    await store.begin_attempt(minimal_event())
    await store.record_deal("doc-1", "deal-1")

    async with opened(build_store(store_url)) as again:
        record = await again.get_event("evt-1")
        document = await again.get_document("doc-1")

    assert record is not None
    assert record.status is EventStatus.PROCESSING
    assert document is not None
    assert document.deal_id == "deal-1"


async def test_stores_can_open_one_new_database_at_once(store_url: str) -> None:
    stores = [build_store(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        await asyncio.gather(*(store.ping() for store in stores))
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_database_from_a_newer_version_is_refused(store: Store, store_url: str) -> None:
    assert isinstance(store, SqlStore)
    # Stands in for a migration a newer crm_writer would have applied.
    await store._fetch(
        "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
        SCHEMA_VERSION + 1,
        store._now(),
    )

    with pytest.raises(SchemaTooNew):
        await build_store(store_url).open()


async def _as_a_first_release_store(store: Store) -> None:
    """Drop the columns added since the first release, as a store made by it would lack them."""
    assert isinstance(store, SqlStore)
    for table, column, _ in ADDED_COLUMNS:
        await store._fetch(f"ALTER TABLE {table} DROP COLUMN {column}")


async def test_opening_an_older_store_adds_the_new_columns_and_keeps_the_rows(
    store: Store, store_url: str
) -> None:
    await store.begin_attempt(minimal_event())
    await _as_a_first_release_store(store)

    async with opened(build_store(store_url)) as upgraded:
        await upgraded.finish_event(
            "evt-1", status=EventStatus.DONE, outcome=Outcome.IGNORED, note="no rule matched"
        )
        record = await upgraded.get_event("evt-1")

    assert record is not None
    assert record.note == "no rule matched"
    assert record.status is EventStatus.DONE


async def test_several_processes_upgrading_one_older_store_at_once(
    store: Store, store_url: str
) -> None:
    await _as_a_first_release_store(store)
    stores = [build_store(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(each.open() for each in stores))
        await stores[0].begin_attempt(minimal_event())
        await stores[1].finish_event("evt-1", status=EventStatus.DONE, note="upgraded")
        record = await stores[2].get_event("evt-1")
    finally:
        await asyncio.gather(*(each.close() for each in stores))
    assert record is not None
    assert record.note == "upgraded"
