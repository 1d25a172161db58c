"""Document → deal (with the intent written before the deal exists) and e-mail → contact."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from services.crm_writer.store import Store


async def test_unknown_document_is_none(store: Store) -> None:
    assert await store.get_document("doc-1") is None


async def test_intent_is_remembered_before_the_deal_exists(store: Store) -> None:
    await store.record_deal_intent("doc-1", "contrato.pdf - Ana Souza")

    document = await store.get_document("doc-1")
    assert document is not None
    assert document.deal_id is None
    assert document.deal_name == "contrato.pdf - Ana Souza"
    assert document.intent_at is not None
    assert document.created_at == document.updated_at


async def test_deal_completes_the_intent(store: Store) -> None:
    await store.record_deal_intent("doc-1", "contrato.pdf - Ana Souza")
    intent = await store.get_document("doc-1")

    await store.record_deal("doc-1", "deal-1")

    document = await store.get_document("doc-1")
    assert intent is not None
    assert document is not None
    assert document.deal_id == "deal-1"
    assert document.deal_name == intent.deal_name
    assert document.intent_at == intent.intent_at
    assert document.created_at == intent.created_at
    assert document.updated_at >= intent.updated_at


async def test_deal_without_an_intent_is_recorded(store: Store) -> None:
    await store.record_deal("doc-1", "deal-1")

    document = await store.get_document("doc-1")
    assert document is not None
    assert (document.deal_id, document.deal_name, document.intent_at) == ("deal-1", None, None)


async def test_later_intent_keeps_the_deal_and_the_first_intent_time(store: Store) -> None:
    await store.record_deal_intent("doc-1", "first name")
    first = await store.get_document("doc-1")
    await store.record_deal("doc-1", "deal-1")

    await store.record_deal_intent("doc-1", "second name")

    document = await store.get_document("doc-1")
    assert first is not None
    assert document is not None
    assert document.deal_id == "deal-1"
    assert document.deal_name == "second name"
    assert document.intent_at == first.intent_at


async def test_document_is_found_by_its_deal(store: Store) -> None:
    await store.record_deal("doc-1", "deal-1")
    await store.record_deal("doc-2", "deal-2")

    document = await store.find_document_by_deal("deal-2")

    assert document is not None
    assert document.document_key == "doc-2"
    assert await store.find_document_by_deal("deal-3") is None


async def test_one_deal_cannot_belong_to_two_documents(store: Store) -> None:
    await store.record_deal("doc-1", "deal-1")

    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await store.record_deal("doc-2", "deal-1")


async def test_contact_is_found_whatever_the_case_of_the_email(store: Store) -> None:
    await store.record_contact("Ana.Souza@Example.COM", "contact-1")

    assert await store.get_contact_id("ana.souza@example.com") == "contact-1"
    assert await store.get_contact_id(" ANA.SOUZA@EXAMPLE.COM ") == "contact-1"


async def test_unknown_contact_is_none(store: Store) -> None:
    assert await store.get_contact_id("nobody@example.com") is None


async def test_contact_id_can_be_replaced(store: Store) -> None:
    await store.record_contact("ana@example.com", "contact-1")

    await store.record_contact("ANA@example.com", "contact-2")

    assert await store.get_contact_id("ana@example.com") == "contact-2"


async def test_field_times_are_stored_with_the_intent_and_replaced_whole(store: Store) -> None:
    moment = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=-3)))
    await store.record_deal_intent("doc-1", "contrato.pdf", field_times={"f1": moment})
    await store.record_deal("doc-1", "deal-1")
    kept = await store.get_document("doc-1")

    later = moment + timedelta(minutes=5)
    await store.record_field_times("doc-1", {"f1": moment, "f2": later})
    replaced = await store.get_document("doc-1")

    assert kept is not None
    assert kept.field_times == {"f1": moment}
    assert replaced is not None
    assert replaced.field_times == {"f1": moment, "f2": later}
    assert replaced.field_times["f2"].tzinfo is not None


async def test_an_intent_without_field_times_keeps_the_known_ones(store: Store) -> None:
    moment = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    await store.record_deal_intent("doc-1", "first", field_times={"f1": moment})

    await store.record_deal_intent("doc-1", "second")

    document = await store.get_document("doc-1")
    assert document is not None
    assert document.field_times == {"f1": moment}


async def test_a_document_without_field_times_has_none(store: Store) -> None:
    await store.record_deal("doc-1", "deal-1")
    document = await store.get_document("doc-1")
    assert document is not None
    assert document.field_times == {}


async def test_field_times_of_an_unknown_document_raise(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.record_field_times("doc-unknown", {"f1": datetime(2026, 1, 1, tzinfo=UTC)})


async def test_a_forgotten_deal_leaves_the_document_ready_for_a_new_one(store: Store) -> None:
    moment = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    await store.record_deal_intent("doc-1", "contrato.pdf", field_times={"f1": moment})
    await store.record_deal("doc-1", "deal-1")

    await store.forget_deal("doc-1", "deal-1")

    forgotten = await store.get_document("doc-1")
    assert forgotten is not None
    assert (forgotten.deal_id, forgotten.deal_name, forgotten.intent_at) == (None, None, None)
    assert forgotten.field_times == {}
    assert await store.find_document_by_deal("deal-1") is None
    await store.record_deal("doc-2", "deal-1")  # the id is free again


async def test_forgetting_another_deal_leaves_the_documents_deal(store: Store) -> None:
    await store.record_deal("doc-1", "deal-2")

    await store.forget_deal("doc-1", "deal-1")

    kept = await store.get_document("doc-1")
    assert kept is not None
    assert kept.deal_id == "deal-2"
