"""Exactly-once handling without a broker: the history the handler writes, duplicates, failures."""

from __future__ import annotations

import asyncio
import uuid

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.handler import Duplicate, EventHandler, Failed, Processed
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.store import EventStatus, Outcome, Store
from tests.clicksign_events import clicksign_event


async def test_an_event_is_applied_and_its_outcome_and_rd_calls_are_in_the_history(
    store: Store, pipeline: DealPipeline, rd: SandboxServer
) -> None:
    event = clicksign_event("sign", str(uuid.uuid4()))

    handled = await EventHandler(store, pipeline).handle(event)

    assert isinstance(handled, Processed)
    record = await store.get_event(event.event_id)
    assert record is not None
    assert record.status is EventStatus.DONE
    assert record.outcome is Outcome.CREATED
    assert record.deal_id == handled.result.deal_id == rd.state.deals[0].id
    assert len(record.rd_calls) == handled.rd_calls > 0


async def test_a_copy_of_a_done_event_is_a_duplicate_and_calls_rd_no_more(
    store: Store, pipeline: DealPipeline, rd: SandboxServer
) -> None:
    handler = EventHandler(store, pipeline)
    event = clicksign_event("sign", str(uuid.uuid4()))
    first = await handler.handle(event)
    requests = len(rd.requests.records)

    again = await handler.handle(event)

    assert isinstance(first, Processed)
    assert again == Duplicate(first.result.deal_id, duplicates=1)
    assert len(rd.requests.records) == requests
    record = await store.get_event(event.event_id)
    assert record is not None
    assert record.attempts == 1


async def test_copies_handled_at_once_make_one_deal_and_the_rest_are_duplicates(
    store: Store, pipeline: DealPipeline, rd: SandboxServer
) -> None:
    handler = EventHandler(store, pipeline)
    event = clicksign_event("sign", str(uuid.uuid4()))

    results = await asyncio.gather(*(handler.handle(event) for _ in range(3)))

    assert sum(isinstance(result, Processed) for result in results) == 1
    assert sum(isinstance(result, Duplicate) for result in results) == 2
    assert len(rd.state.deals) == 1


async def test_a_failed_attempt_returns_its_calls_and_the_caller_records_what_it_became(
    store: Store, pipeline: DealPipeline, rd: SandboxServer
) -> None:
    handler = EventHandler(store, pipeline)
    rd.faults.fail_next(1, 500, method="POST", path_prefix="/deals")
    event = clicksign_event("sign", str(uuid.uuid4()))

    handled = await handler.handle(event)

    assert isinstance(handled, Failed)
    assert [(row["method"], row["status"]) for row in handled.history][-1] == ("POST", 500)
    processing = await store.get_event(event.event_id)
    assert processing is not None
    assert processing.status is EventStatus.PROCESSING
    await handler.record_failure(event, handled, EventStatus.RETRYING, "RD Station: 500")
    retrying = await store.get_event(event.event_id)
    assert retrying is not None
    assert retrying.status is EventStatus.RETRYING
    assert retrying.error == "RD Station: 500"
    assert retrying.rd_calls == handled.history
