"""The automation history: one row per Clicksign event, every attempt counted and kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.crm_writer.store import EventQuery, EventRecord, EventStatus, Outcome, Store
from shared.events import SignedDocumentEvent, Signer
from tests.clicksign_events import minimal_event
from tests.store.backends import build_store

RD_CREATE_DEAL = {"method": "POST", "path": "/deals", "status": 200, "response": {"_id": "d-1"}}
RD_SERVER_ERROR = {"method": "POST", "path": "/deals", "status": 503, "response": None}


async def test_first_attempt_records_a_processing_event(store: Store) -> None:
    event = minimal_event()

    record = await store.begin_attempt(event)

    assert record.event_id == event.event_id
    assert record.document_key == "doc-1"
    assert record.event_name == "sign"
    assert record.correlation_id == event.correlation_id
    assert record.status is EventStatus.PROCESSING
    assert (record.attempts, record.duplicates) == (1, 0)
    assert record.rd_calls == []
    assert record.first_attempt_at == record.last_attempt_at
    assert record.finished_at is None
    assert await store.get_event(event.event_id) == record


async def test_finished_event_keeps_the_result(store: Store) -> None:
    event = minimal_event()
    await store.begin_attempt(event)

    await store.finish_event(
        event.event_id,
        status=EventStatus.DONE,
        outcome=Outcome.CREATED,
        deal_id="d-1",
        rd_calls=[RD_CREATE_DEAL],
        duration_ms=12.5,
    )

    record = await store.get_event(event.event_id)
    assert record is not None
    assert record.status is EventStatus.DONE
    assert record.outcome is Outcome.CREATED
    assert record.deal_id == "d-1"
    assert record.rd_calls == [RD_CREATE_DEAL]
    assert record.error is None
    assert record.duration_ms == 12.5
    assert record.finished_at is not None
    assert record.finished_at >= record.last_attempt_at


async def test_payload_replays_as_the_same_event(store: Store) -> None:
    event = minimal_event()

    record = await store.begin_attempt(event)

    assert SignedDocumentEvent.model_validate(record.payload) == event
    assert record.payload["raw"] == event.raw


async def test_timestamps_come_back_aware_in_utc(store: Store) -> None:
    sao_paulo = timezone(timedelta(hours=-3))
    received = datetime(2025, 3, 4, 9, 30, 15, 123456, tzinfo=sao_paulo)

    record = await store.begin_attempt(minimal_event(received_at=received))

    assert record.received_at == received
    assert record.received_at.tzinfo == UTC
    assert record.last_attempt_at.tzinfo == UTC


async def test_each_new_attempt_counts(store: Store) -> None:
    event = minimal_event()
    first = await store.begin_attempt(event)
    await store.finish_event(event.event_id, status=EventStatus.RETRYING, error="RD answered 503")

    again = await store.begin_attempt(event)

    assert again.attempts == 2
    assert again.status is EventStatus.PROCESSING
    assert again.first_attempt_at == first.first_attempt_at
    assert again.last_attempt_at >= first.last_attempt_at


async def test_done_event_only_counts_a_duplicate(store: Store) -> None:
    event = minimal_event()
    await store.begin_attempt(event)
    await store.finish_event(event.event_id, status=EventStatus.DONE, deal_id="d-1")
    done = await store.get_event(event.event_id)

    redelivered = await store.begin_attempt(event)

    assert redelivered.status is EventStatus.DONE
    assert redelivered.duplicates == 1
    assert redelivered.attempts == 1
    assert redelivered.deal_id == "d-1"
    assert done is not None
    assert redelivered.last_attempt_at == done.last_attempt_at


async def test_rd_calls_of_every_attempt_are_kept_in_order(store: Store) -> None:
    event = minimal_event()
    await store.begin_attempt(event)
    await store.finish_event(
        event.event_id,
        status=EventStatus.RETRYING,
        rd_calls=[RD_SERVER_ERROR],
        error="RD answered 503",
    )
    await store.begin_attempt(event)

    await store.finish_event(
        event.event_id, status=EventStatus.DONE, outcome=Outcome.CREATED, rd_calls=[RD_CREATE_DEAL]
    )

    record = await store.get_event(event.event_id)
    assert record is not None
    assert record.rd_calls == [RD_SERVER_ERROR, RD_CREATE_DEAL]
    assert record.error is None


async def test_failed_attempt_keeps_a_deal_id_already_known(store: Store) -> None:
    event = minimal_event()
    await store.begin_attempt(event)
    await store.finish_event(event.event_id, status=EventStatus.FAILED, deal_id="d-1", error="x")
    await store.begin_attempt(event)

    await store.finish_event(event.event_id, status=EventStatus.PARKED, error="RD said 422")

    record = await store.get_event(event.event_id)
    assert record is not None
    assert record.status is EventStatus.PARKED
    assert record.deal_id == "d-1"
    assert record.error == "RD said 422"


async def test_finishing_an_unknown_event_raises(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.finish_event("never-begun", status=EventStatus.DONE)


async def test_unknown_event_is_none(store: Store) -> None:
    assert await store.get_event("nope") is None


async def test_racing_first_attempts_all_count(store: Store, store_url: str) -> None:
    """Ten deliveries of one new event at once, from two stores (two connections or pools)."""
    event = minimal_event()
    other = build_store(store_url)
    await other.open()
    try:
        records = await asyncio.gather(
            *(target.begin_attempt(event) for target in [store, other] * 5)
        )
    finally:
        await other.close()

    assert sorted(record.attempts for record in records) == list(range(1, 11))
    stored = await store.get_event(event.event_id)
    assert stored is not None
    assert stored.attempts == 10


# -- the history listing ---------------------------------------------------------------------


async def _three_events(store: Store) -> list[SignedDocumentEvent]:
    events = [
        minimal_event("evt-1", document_key="doc-a"),
        minimal_event("evt-2", document_key="doc-b"),
        minimal_event("evt-3", document_key="doc-a"),
    ]
    for event in events:
        await store.begin_attempt(event)
    return events


def _ids(records: list[EventRecord]) -> list[str]:
    return [record.event_id for record in records]


async def test_history_lists_newest_first(store: Store) -> None:
    await _three_events(store)

    assert _ids(await store.list_events()) == ["evt-3", "evt-2", "evt-1"]


async def test_history_orders_by_last_attempt(store: Store) -> None:
    events = await _three_events(store)

    await store.begin_attempt(events[0])

    assert _ids(await store.list_events()) == ["evt-1", "evt-3", "evt-2"]


async def test_history_filters_by_status(store: Store) -> None:
    await _three_events(store)
    await store.finish_event("evt-2", status=EventStatus.PARKED, error="RD said 422")

    assert _ids(await store.list_events(status=EventStatus.PARKED)) == ["evt-2"]
    assert _ids(await store.list_events(status=EventStatus.PROCESSING)) == ["evt-3", "evt-1"]


async def test_history_filters_by_document(store: Store) -> None:
    await _three_events(store)

    assert _ids(await store.list_events(document_key="doc-a")) == ["evt-3", "evt-1"]


async def test_history_filters_by_time(store: Store) -> None:
    await _three_events(store)
    second = await store.get_event("evt-2")
    assert second is not None

    assert _ids(await store.list_events(since=second.last_attempt_at)) == ["evt-3", "evt-2"]


async def test_history_takes_a_naive_since_as_utc(store: Store) -> None:
    await _three_events(store)
    third = await store.get_event("evt-3")
    assert third is not None
    naive = third.last_attempt_at.replace(tzinfo=None)

    assert _ids(await store.list_events(since=naive)) == ["evt-3"]


async def test_history_filters_combine(store: Store) -> None:
    await _three_events(store)
    await store.finish_event("evt-1", status=EventStatus.DONE)
    await store.finish_event("evt-2", status=EventStatus.DONE)
    second = await store.get_event("evt-2")
    assert second is not None

    found = await store.list_events(
        status=EventStatus.DONE, document_key="doc-a", since=second.first_attempt_at
    )

    assert found == []
    assert _ids(await store.list_events(status=EventStatus.DONE, document_key="doc-a")) == ["evt-1"]


async def test_history_limit_keeps_the_newest(store: Store) -> None:
    await _three_events(store)

    assert _ids(await store.list_events(limit=2)) == ["evt-3", "evt-2"]


async def test_history_limit_is_capped(store: Store) -> None:
    for number in range(503):
        await store.begin_attempt(minimal_event(f"evt-{number:03}"))

    assert len(await store.list_events(limit=10_000)) == 500


async def test_oldest_unprocessed_is_none_when_nothing_waits(store: Store) -> None:
    assert await store.oldest_unprocessed_received_at() is None


async def test_oldest_unprocessed_counts_processing_and_retrying_events_only(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    received = {
        "done": now - timedelta(hours=5),
        "parked": now - timedelta(hours=4),
        "failed": now - timedelta(hours=3),
        "retrying": now - timedelta(hours=2),
        "processing": now - timedelta(hours=1),
    }
    for name, moment in received.items():
        await store.begin_attempt(minimal_event(name, received_at=moment))
    for name in ("done", "parked", "failed", "retrying"):
        await store.finish_event(name, status=EventStatus(name))

    assert await store.oldest_unprocessed_received_at() == received["retrying"]

    await store.finish_event("retrying", status=EventStatus.DONE)
    assert await store.oldest_unprocessed_received_at() == received["processing"]


async def test_oldest_unprocessed_compares_instants_across_time_zones(store: Store) -> None:
    brasilia = timezone(timedelta(hours=-3))
    earlier = datetime(2026, 11, 27, 20, 0, tzinfo=brasilia)  # 23:00 UTC
    later = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    await store.begin_attempt(minimal_event("later", received_at=later))
    await store.begin_attempt(minimal_event("earlier", received_at=earlier))

    oldest = await store.oldest_unprocessed_received_at()

    assert oldest == earlier
    assert oldest is not None
    assert oldest.tzinfo is not None


async def test_an_unfinished_attempt_is_stuck_once_it_is_older_than_the_bound(
    store: Store,
) -> None:
    await store.begin_attempt(minimal_event("abandoned"))
    await store.begin_attempt(minimal_event("finished"))
    await store.finish_event("finished", status=EventStatus.DONE)
    started = (await store.get_event("abandoned")).last_attempt_at  # type: ignore[union-attr]

    assert await store.stuck_processing(started - timedelta(seconds=1)) == (0, None)
    assert await store.stuck_processing(started + timedelta(seconds=1)) == (1, started)

    await store.finish_event("abandoned", status=EventStatus.RETRYING)
    assert await store.stuck_processing(started + timedelta(seconds=1)) == (0, None)


async def test_clicksigns_answers_are_stored_without_links_and_ip(store: Store) -> None:
    await store.begin_attempt(minimal_event("thin"))
    answer = {"document": {"key": "d-1", "downloads": {"signed_file_url": "https://s3/x?sig=1"}}}
    call = {"api": "clicksign", "method": "GET", "path": "/api/v1/documents/d-1"}
    call["response"] = answer

    await store.finish_event("thin", status=EventStatus.DONE, rd_calls=[call])

    [stored] = (await store.get_event("thin")).rd_calls  # type: ignore[union-attr]
    assert stored["response"] == {"document": {"key": "d-1"}, "_removed": ["document.downloads"]}


async def test_a_nul_character_from_a_signed_webhook_is_stored_as_a_replacement(
    store: Store,
) -> None:
    # PostgreSQL refuses NUL in jsonb and text: such an event crashed crm_writer on every
    # delivery until the broker parked it, with no history row (found by the security probe).
    event = minimal_event("nul\x00id", document_key="doc\x00key")
    event = event.model_copy(
        update={
            "document": event.document.model_copy(update={"filename": "a\x00b.pdf"}),
            "raw": {**event.raw, "document": {"key": "doc\x00key", "filename": "a\x00b.pdf"}},
        }
    )

    await store.begin_attempt(event)
    await store.finish_event("nul\x00id", status=EventStatus.DONE, rd_calls=[{"note": "x\x00"}])

    record = await store.get_event("nul\x00id")
    assert record is not None
    assert record.document_key == "doc\ufffdkey"
    assert record.payload["raw"]["document"]["filename"] == "a\ufffdb.pdf"
    assert record.rd_calls == [{"note": "x\ufffd"}]


async def test_a_message_that_is_no_event_is_recorded_parked_without_a_payload(
    store: Store,
) -> None:
    received = datetime(2024, 5, 2, 13, 0, tzinfo=UTC)
    for _ in range(2):
        await store.record_unreadable(
            "garbage-1",
            document_key="doc-9",
            event_name="sign",
            correlation_id="corr-1",
            received_at=received,
            reason="unreadable message: signers: Input should be a valid list\x00",
        )

    record = await store.get_event("garbage-1")
    assert record is not None
    assert (record.status, record.attempts, record.document_key) == (EventStatus.PARKED, 2, "doc-9")
    assert record.payload == {} and record.rd_calls == []
    assert record.error == "unreadable message: signers: Input should be a valid list\ufffd"
    assert record.received_at == received
    [listed] = await store.list_events(status=EventStatus.PARKED)
    assert listed.event_id == "garbage-1"


async def test_a_done_event_stays_done_when_an_unreadable_copy_of_it_arrives(store: Store) -> None:
    event = minimal_event("evt-done")
    await store.begin_attempt(event)
    await store.finish_event("evt-done", status=EventStatus.DONE, outcome=Outcome.CREATED)

    await store.record_unreadable(
        "evt-done",
        document_key="",
        event_name="sign",
        correlation_id="",
        received_at=datetime.now(UTC),
        reason="unreadable message: x",
    )

    record = await store.get_event("evt-done")
    assert record is not None
    assert (record.status, record.error, record.attempts) == (EventStatus.DONE, None, 1)


async def test_a_completed_event_replaces_the_stored_payload_and_what_is_searched(
    store: Store,
) -> None:
    thin = minimal_event("evt-thin")
    await store.begin_attempt(thin)
    signer = Signer(key="s-1", name="Ana Souza", email="Ana@Example.com")
    completed = thin.model_copy(
        update={
            "document": thin.document.model_copy(update={"filename": "Contrato.pdf"}),
            "signers": [signer],
        }
    )

    await store.record_completion(completed)
    await store.record_completion(minimal_event("evt-unknown"))  # nothing to update

    record = await store.get_event("evt-thin")
    assert record is not None
    assert record.payload["document"]["filename"] == "Contrato.pdf"
    assert record.payload["signers"][0]["email"] == "Ana@Example.com"
    assert record.payload["raw"] == thin.model_dump(mode="json")["raw"]
    found = await store.search_events(EventQuery(signer_email="ana@example.com"))
    assert [event.event_id for event in found] == ["evt-thin"]
    assert await store.get_event("evt-unknown") is None


async def test_a_done_event_is_never_marked_to_be_done_again(store: Store) -> None:
    # A failure noticed after the effect (a log line, the ack) reports the event handed back.
    await store.begin_attempt(minimal_event("evt-done-then-crash"))
    await store.finish_event("evt-done-then-crash", status=EventStatus.DONE, deal_id="d-1")

    await store.finish_event(
        "evt-done-then-crash", status=EventStatus.FAILED, error="handed back to the broker: x"
    )

    record = await store.get_event("evt-done-then-crash")
    assert record is not None
    assert (record.status, record.error, record.deal_id) == (EventStatus.DONE, None, "d-1")
    with pytest.raises(KeyError):
        await store.finish_event("evt-never-begun", status=EventStatus.FAILED)
