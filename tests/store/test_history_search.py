"""The history page's questions to the store: filters, pages, counts per status, replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.crm_writer.store import EventQuery, EventRecord, EventStatus, Outcome, Store
from services.crm_writer.store.base import MAX_PAGE_SIZE
from services.crm_writer.store.sql import SqlStore
from shared.events import Document, SignedDocumentEvent, Signer
from tests.store.backends import build_store


def event(
    event_id: str,
    *,
    document_key: str = "doc-1",
    filename: str = "contrato.pdf",
    signers: tuple[str, ...] = ("ana@example.com",),
    raw_extra: dict[str, object] | None = None,
) -> SignedDocumentEvent:
    people = [
        Signer(key=f"s-{index}", name=f"Signer {index}", email=email)
        for index, email in enumerate(signers)
    ]
    return SignedDocumentEvent(
        event_id=event_id,
        event_name="sign",
        document=Document(key=document_key, filename=filename),
        signer=people[0] if people else None,
        signers=people,
        raw={"document": {"key": document_key, "filename": filename}, **(raw_extra or {})},
        correlation_id=f"corr-{event_id}",
        received_at=datetime.now(UTC),
    )


def ids(records: list[EventRecord]) -> list[str]:
    return [record.event_id for record in records]


async def stored(store: Store, *events: SignedDocumentEvent) -> None:
    for each in events:
        await store.begin_attempt(each)


async def test_a_part_of_the_file_name_finds_its_events_whatever_the_case(store: Store) -> None:
    await stored(
        store,
        event("e1", document_key="k1", filename="Contrato de Prestação.pdf"),
        event("e2", document_key="k2", filename="proposta.pdf"),
    )

    assert ids(await store.search_events(EventQuery(document="PRESTAÇÃO"))) == ["e1"]
    assert ids(await store.search_events(EventQuery(document="contrato de"))) == ["e1"]


async def test_the_document_filter_also_takes_a_whole_document_key(store: Store) -> None:
    await stored(store, event("e1", document_key="k1"), event("e2", document_key="k2"))

    assert ids(await store.search_events(EventQuery(document="k2"))) == ["e2"]


async def test_like_wildcards_in_the_search_are_plain_characters(store: Store) -> None:
    await stored(store, event("e1", filename="100%.pdf"), event("e2", filename="a_b.pdf"))
    await stored(store, event("e3", filename="axb.pdf"))

    assert ids(await store.search_events(EventQuery(document="%"))) == ["e1"]
    assert ids(await store.search_events(EventQuery(document="a_b"))) == ["e2"]


async def test_a_signer_email_finds_the_events_naming_that_signer(store: Store) -> None:
    await stored(
        store,
        event("e1", signers=("ana@example.com", "bruno@example.com")),
        event("e2", signers=("bruno@example.com",)),
        event("e3", signers=("carla@example.com",)),
    )

    found = await store.search_events(EventQuery(signer_email=" Bruno@Example.COM "))

    assert ids(found) == ["e2", "e1"]


async def test_a_signer_email_matches_whole_addresses_only(store: Store) -> None:
    await stored(store, event("e1", signers=("ana@example.com",)))

    for partial in ("ana@example.co", "na@example.com", "example.com", "ana"):
        assert await store.search_events(EventQuery(signer_email=partial)) == [], partial


async def test_an_email_that_is_not_a_signers_does_not_match(store: Store) -> None:
    uploader = {"event": {"data": {"user": {"email": "staff@example.com"}}}}
    await stored(store, event("e1", raw_extra=uploader))

    assert await store.search_events(EventQuery(signer_email="staff@example.com")) == []


async def test_events_stored_before_the_search_columns_are_found_by_email(
    store: Store, store_url: str
) -> None:
    await stored(store, event("e1", signers=("ana@example.com",)))
    assert isinstance(store, SqlStore)
    for column in ("search_filename", "search_signers"):
        await store._fetch(f"ALTER TABLE events DROP COLUMN {column}")

    upgraded = build_store(store_url)
    await upgraded.open()
    try:
        found = await upgraded.search_events(EventQuery(signer_email="ANA@example.com"))
        missed = await upgraded.search_events(EventQuery(signer_email="an@example.com"))
    finally:
        await upgraded.close()

    assert ids(found) == ["e1"]
    assert missed == []


async def test_since_is_inclusive_and_until_exclusive(store: Store) -> None:
    await stored(store, event("e1"), event("e2"), event("e3"))
    second = await store.get_event("e2")
    third = await store.get_event("e3")
    assert second is not None and third is not None

    window = EventQuery(since=second.last_attempt_at, until=third.last_attempt_at)

    assert ids(await store.search_events(window)) == ["e2"]


async def test_ignored_and_duplicated_events_are_told_apart(store: Store) -> None:
    await stored(store, event("e1"), event("e2"), event("e3"))
    await store.finish_event("e1", status=EventStatus.DONE, outcome=Outcome.CREATED)
    await store.finish_event("e2", status=EventStatus.DONE, outcome=Outcome.IGNORED)
    await store.begin_attempt(event("e1"))  # redelivered once done: a duplicate

    done = EventQuery(status=EventStatus.DONE)
    assert ids(await store.search_events(EventQuery(status=EventStatus.DONE, ignored=True))) == [
        "e2"
    ]
    assert ids(await store.search_events(EventQuery(status=EventStatus.DONE, ignored=False))) == [
        "e1"
    ]
    assert ids(await store.search_events(EventQuery(duplicated=True))) == ["e1"]
    assert ids(await store.search_events(done)) == ["e2", "e1"]


async def test_pages_follow_each_other_newest_first(store: Store) -> None:
    await stored(store, *(event(f"e{number}") for number in range(1, 6)))

    first = await store.search_events(EventQuery(), limit=2)
    second = await store.search_events(EventQuery(), limit=2, offset=2)
    last = await store.search_events(EventQuery(), limit=2, offset=4)

    assert [ids(first), ids(second), ids(last)] == [["e5", "e4"], ["e3", "e2"], ["e1"]]


async def test_a_page_is_never_longer_than_the_cap(store: Store) -> None:
    await stored(store, *(event(f"e{number:03}") for number in range(MAX_PAGE_SIZE + 3)))

    assert len(await store.search_events(EventQuery(), limit=10_000)) == MAX_PAGE_SIZE


async def test_counts_per_status_with_ignored_and_duplicated(store: Store) -> None:
    await stored(store, *(event(f"e{number}") for number in range(1, 6)))
    await store.finish_event("e1", status=EventStatus.DONE, outcome=Outcome.CREATED)
    await store.finish_event("e2", status=EventStatus.DONE, outcome=Outcome.IGNORED)
    await store.finish_event("e3", status=EventStatus.PARKED, error="RD said 422")
    await store.finish_event("e4", status=EventStatus.RETRYING, error="RD said 503")
    await store.begin_attempt(event("e1"))

    counts = await store.count_by_status(EventQuery())

    assert counts.by_status == {
        EventStatus.DONE: 2,
        EventStatus.PARKED: 1,
        EventStatus.RETRYING: 1,
        EventStatus.PROCESSING: 1,
    }
    assert (counts.ignored, counts.duplicated, counts.total) == (1, 1, 5)


async def test_counts_follow_the_other_filters(store: Store) -> None:
    await stored(
        store,
        event("e1", document_key="k1", filename="a.pdf"),
        event("e2", document_key="k2", filename="b.pdf"),
    )
    await store.finish_event("e1", status=EventStatus.PARKED, error="RD said 422")

    counts = await store.count_by_status(EventQuery(document="a.pdf"))

    assert counts.by_status == {EventStatus.PARKED: 1}
    assert counts.of(EventStatus.PROCESSING) == 0


async def test_replays_are_appended_with_who_and_when(store: Store) -> None:
    await stored(store, event("e1"), event("e2"))
    first = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    assert await store.record_replay(["e1", "unknown"], by="Ana", at=first) == 1
    await store.record_replay(["e1", "e2"], by="loopback", at=first + timedelta(hours=1))

    one, two = await store.get_event("e1"), await store.get_event("e2")
    assert one is not None and two is not None
    assert one.replays == [
        {"by": "Ana", "at": "2026-03-01T12:00:00.000000+00:00"},
        {"by": "loopback", "at": "2026-03-01T13:00:00.000000+00:00"},
    ]
    assert [entry["by"] for entry in two.replays] == ["loopback"]


async def test_an_event_never_replayed_has_no_replays(store: Store) -> None:
    await stored(store, event("e1"))

    record = await store.get_event("e1")

    assert record is not None and record.replays == []
