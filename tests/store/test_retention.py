"""What the history keeps and for how long: retention batches, erasure of one person, and the
payload stored without what nothing reads — on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sandbox.clicksign import build_webhook, make_signers
from services.crm_writer.erasure import erase_person, find_person
from services.crm_writer.observer import NullObserver, PurgedKind
from services.crm_writer.retention import HistoryRetention
from services.crm_writer.store import EventStatus, Outcome, Store, opened
from services.crm_writer.store.sql import SqlStore
from services.crm_writer.store.stored_payload import REMOVED_KEY
from shared.events import Document, SignedDocumentEvent, Signer
from tests.clicksign_events import event_of, minimal_event
from tests.store.backends import build_store


class PurgeRecorder(NullObserver):
    """Every batch the retention reports, in order."""

    def __init__(self) -> None:
        self.batches: list[tuple[PurgedKind, int]] = []

    def history_purged(self, kind: PurgedKind, rows: int) -> None:
        self.batches.append((kind, rows))


async def _events(store: Store, prefix: str, count: int, status: EventStatus) -> list[str]:
    ids = [f"{prefix}-{number}" for number in range(count)]
    for event_id in ids:
        await store.begin_attempt(minimal_event(event_id, document_key=f"doc-{event_id}"))
        await store.finish_event(event_id, status=status)
    return ids


async def _moment_between() -> datetime:
    """A moment strictly after what was written so far and before what is written next."""
    await asyncio.sleep(0.01)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.01)
    return moment


async def test_old_events_go_in_batches_and_parked_ones_stay(store: Store) -> None:
    old = await _events(store, "old", 5, EventStatus.DONE)
    old_parked = await _events(store, "parked", 2, EventStatus.PARKED)
    old_failed = await _events(store, "failed", 1, EventStatus.FAILED)
    cutoff = await _moment_between()
    recent = await _events(store, "new", 2, EventStatus.DONE)
    recorder = PurgeRecorder()
    retention = HistoryRetention(store, days=90, observer=recorder, batch_rows=2)

    counts = await retention.purge(now=cutoff + timedelta(days=90))

    assert counts.events == 6
    assert recorder.batches[:3] == [(PurgedKind.EVENTS, 2)] * 3
    assert sum(rows for kind, rows in recorder.batches if kind is PurgedKind.EVENTS) == 6
    for event_id in old + old_failed:
        assert await store.get_event(event_id) is None
    for event_id in old_parked + recent:
        assert await store.get_event(event_id) is not None


async def test_one_batch_never_removes_more_than_asked(store: Store) -> None:
    await _events(store, "old", 3, EventStatus.DONE)
    later = datetime.now(UTC) + timedelta(seconds=1)

    assert await store.purge_events(later, batch_size=2) == 2
    assert await store.purge_events(later, batch_size=2) == 1
    assert await store.purge_events(later, batch_size=2) == 0


async def test_a_replayed_parked_event_is_purged_once_it_is_old(store: Store) -> None:
    (event_id,) = await _events(store, "parked", 1, EventStatus.PARKED)
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert await store.purge_events(later, batch_size=10) == 0

    await store.begin_attempt(minimal_event(event_id, document_key=f"doc-{event_id}"))
    await store.finish_event(event_id, status=EventStatus.DONE, outcome=Outcome.UPDATED)

    assert await store.purge_events(datetime.now(UTC) + timedelta(seconds=1), batch_size=10) == 1


async def test_old_contact_rows_go_and_newer_ones_stay(store: Store) -> None:
    await store.record_contact("ana@example.com", "contact-1")
    cutoff = await _moment_between()
    await store.record_contact("bruno@example.com", "contact-2")

    assert await store.purge_contacts(cutoff, batch_size=10) == 1

    assert await store.get_contact_id("ana@example.com") is None
    assert await store.get_contact_id("bruno@example.com") == "contact-2"


async def test_old_deal_names_are_cleared_but_the_document_and_intents_stay(store: Store) -> None:
    await store.record_deal_intent("doc-done", "contrato.pdf - Ana Souza")
    await store.record_deal("doc-done", "deal-1")
    await store.record_deal_intent("doc-interrupted", "contrato.pdf - Bruno Lima")
    later = datetime.now(UTC) + timedelta(seconds=1)

    assert await store.clear_deal_names(later, batch_size=10) == 1

    done = await store.get_document("doc-done")
    interrupted = await store.get_document("doc-interrupted")
    assert done is not None and interrupted is not None
    assert (done.deal_id, done.deal_name) == ("deal-1", None)
    # Without a deal id the name is what finds the deal RD may have made before a crash.
    assert interrupted.deal_name == "contrato.pdf - Bruno Lima"


async def test_a_purge_with_nothing_to_do_reports_nothing(store: Store) -> None:
    await _events(store, "new", 1, EventStatus.DONE)
    recorder = PurgeRecorder()

    counts = await HistoryRetention(store, days=1, observer=recorder).purge()

    assert counts.total == 0
    assert recorder.batches == []


async def test_opening_an_older_store_adds_the_retention_indexes(
    store: Store, store_url: str
) -> None:
    assert isinstance(store, SqlStore)
    for index in ("contacts_by_created_at", "documents_named"):
        await store._fetch(f"DROP INDEX {index}")

    async with opened(build_store(store_url)) as upgraded:
        await upgraded.record_contact("ana@example.com", "contact-1")
        assert await upgraded.purge_contacts(datetime.now(UTC) + timedelta(1), batch_size=5) == 1

    names = await store._fetch(
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if store_url.startswith("sqlite")
        else "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
    )
    assert {"contacts_by_created_at", "documents_named"} <= {row["name"] for row in names}


# -- erasure of one person --------------------------------------------------------------------


def _event(
    event_id: str, document_key: str, *people: Signer, user: str | None = None
) -> SignedDocumentEvent:
    raw: dict[str, object] = {
        "event": {"name": "sign", "data": {}},
        "document": {"key": document_key},
    }
    if user:
        raw["event"] = {"name": "sign", "data": {"user": {"email": user}}}
    return SignedDocumentEvent(
        event_id=event_id,
        event_name="sign",
        document=Document(key=document_key),
        signer=people[0] if people else None,
        signers=list(people),
        raw=raw,
        correlation_id=f"corr-{event_id}",
        received_at=datetime.now(UTC),
    )


ANA = Signer(key="s-ana", name="Ana Souza", email="Ana_Souza@Example.com")
# Differs from Ana's e-mail only where Ana's has "_", which LIKE would take for any character.
ANAX = Signer(key="s-anax", name="Anax Souza", email="anaxsouza@example.com")
BRUNO = Signer(key="s-bruno", name="Bruno Lima", email="bruno@example.com")


async def test_forgetting_a_person_removes_exactly_their_events_contact_and_deal_names(
    store: Store,
) -> None:
    await store.begin_attempt(_event("ana-signs", "doc-1", ANA))
    await store.begin_attempt(_event("both-sign", "doc-2", BRUNO, ANA))
    await store.begin_attempt(_event("bruno-signs", "doc-3", BRUNO))
    await store.begin_attempt(_event("anax-signs", "doc-4", ANAX))
    await store.begin_attempt(_event("ana-uploads", "doc-5", BRUNO, user="ana_souza@example.com"))
    await store.finish_event("both-sign", status=EventStatus.PARKED)
    await store.record_contact("ana_souza@example.com", "contact-ana")
    await store.record_contact("bruno@example.com", "contact-bruno")
    for key, name in (("doc-1", "contrato - Ana Souza"), ("doc-3", "contrato - Bruno Lima")):
        await store.record_deal_intent(key, name)
        await store.record_deal(key, f"deal-{key}")

    planned = await find_person(store, " ANA_SOUZA@example.com ")
    assert await store.get_event("ana-signs") is not None  # finding changes nothing
    erased = await erase_person(store, "ana_souza@example.com")

    assert [event.event_id for event in planned.events] == ["ana-signs", "both-sign"]
    assert erased == planned
    assert [event.event_id for event in erased.parked] == ["both-sign"]
    assert erased.contact_id == "contact-ana"
    assert erased.documents_named == ["doc-1"]
    assert erased.mentioned_elsewhere == ["ana-uploads"]
    assert await store.get_event("ana-signs") is None
    assert await store.get_event("both-sign") is None
    for kept in ("bruno-signs", "anax-signs", "ana-uploads"):
        assert await store.get_event(kept) is not None
    assert await store.get_contact_id("ana_souza@example.com") is None
    assert await store.get_contact_id("bruno@example.com") == "contact-bruno"
    doc_1, doc_3 = await store.get_document("doc-1"), await store.get_document("doc-3")
    assert doc_1 is not None and (doc_1.deal_id, doc_1.deal_name) == ("deal-doc-1", None)
    assert doc_3 is not None and doc_3.deal_name == "contrato - Bruno Lima"


async def test_forgetting_someone_unknown_changes_nothing(store: Store) -> None:
    await store.begin_attempt(_event("bruno-signs", "doc-3", BRUNO))

    erased = await erase_person(store, "nobody@example.com")

    assert erased.empty
    assert await store.get_event("bruno-signs") is not None


# -- what is stored of an event -----------------------------------------------------------------


async def test_the_stored_payload_leaves_out_links_location_and_ip(store: Store) -> None:
    body = build_webhook("sign", signers=make_signers(2))
    event = event_of(body)

    record = await store.begin_attempt(event)

    text = str(record.payload)
    signer = body["event"]["data"]["signer"]
    for value in (signer["url"], signer["address"], signer["latitude"], "/download"):
        assert value not in text
    assert "event.data.signer.address" in record.payload["raw"][REMOVED_KEY]
    assert record.payload["signer"]["email"] == signer["email"]
    assert record.payload["signer"]["documentation"] == signer["documentation"]
    assert SignedDocumentEvent.model_validate(record.payload).signer == event.signer.model_copy(
        update={"birthday": None}
    )


async def test_forgetting_a_person_removes_the_thin_events_their_data_reached_through_the_apis(
    store: Store,
) -> None:
    # A thin auto_close names nobody: its signers came from Clicksign's API, and RD's contact
    # requests and the history's note hold them. Those rows are the person's data too.
    await store.begin_attempt(_event("thin-close", "doc-1"))
    clicksign_answer = {
        "api": "clicksign",
        "method": "GET",
        "path": "/api/v1/documents/doc-1",
        "response": {"document": {"signers": [{"name": "Ana Souza", "email": ANA.email}]}},
    }
    await store.finish_event("thin-close", status=EventStatus.DONE, rd_calls=[clicksign_answer])
    await store.begin_attempt(_event("named-in-a-note", "doc-2"))
    await store.finish_event(
        "named-in-a-note",
        status=EventStatus.DONE,
        note="contact name 'Ana Souza' was taken: created as 'Ana Souza (ana_souza@example.com)'",
    )
    await store.begin_attempt(_event("refused", "doc-3"))
    await store.finish_event(
        "refused", status=EventStatus.PARKED, error="RD 422: e-mail ANA_SOUZA@example.com inválido"
    )
    await store.begin_attempt(_event("other-thin-close", "doc-4"))
    await store.finish_event("other-thin-close", status=EventStatus.DONE, note="no signers")
    # RD never created doc-3's deal: its name waits for a crash recovery, and is hers all the same.
    await store.record_deal_intent("doc-3", "contrato - Ana Souza")

    erased = await erase_person(store, "ana_souza@example.com")

    assert [event.event_id for event in erased.events] == [
        "thin-close",
        "named-in-a-note",
        "refused",
    ]
    assert erased.mentioned_elsewhere == []
    for gone in ("thin-close", "named-in-a-note", "refused"):
        assert await store.get_event(gone) is None
    assert await store.get_event("other-thin-close") is not None
    assert erased.documents_named == ["doc-3"]
    doc_3 = await store.get_document("doc-3")
    assert doc_3 is not None and doc_3.deal_name is None
