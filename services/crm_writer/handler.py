"""Exactly-once handling of one event: lock, begin the attempt, apply, finish.

Under the document's lock (a store lock, so it holds across replicas) the store's `begin_attempt`
says whether the event is already done — then it is a duplicate and nothing is done again — the
pipeline applies it, and its outcome goes to the history with every RD and Clicksign call it
made. A failed attempt is returned as `Failed`, with the calls it made; the caller decides what
it becomes (a retry, the parking lot, the broker again) and records that with `record_failure`.

The AMQP side — decoding, acknowledging, retrying, parking — is the consumer's
(`services.crm_writer.consumer`); this module never sees a message, so tests drive it without a
broker.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from services.crm_writer.pipeline import DealPipeline, DealResult
from services.crm_writer.rdstation import RdCall
from services.crm_writer.retry_policy import describe_failure
from services.crm_writer.store import EventStatus, Store
from shared.events import SignedDocumentEvent
from shared.logging import get_logger
from shared.messages import UnreadableMessage

log = get_logger()


@dataclass(frozen=True)
class Processed:
    """The event's effect is in RD and its outcome in the history."""

    result: DealResult
    rd_calls: int
    duration_ms: float


@dataclass(frozen=True)
class Duplicate:
    """The event was already done: nothing was done again (the history counts the copy)."""

    deal_id: str | None
    duplicates: int


@dataclass(frozen=True)
class Failed:
    """The attempt failed with ``error``; ``history`` holds the calls it made, as rows."""

    error: Exception
    history: list[dict[str, Any]]
    started: float  # time.monotonic() when the attempt began


HandlingResult = Processed | Duplicate | Failed


class EventHandler:
    """Handles each event once, whatever the number of copies delivered, here or elsewhere."""

    def __init__(self, store: Store, pipeline: DealPipeline) -> None:
        self.store = store
        self.pipeline = pipeline

    async def handle(self, event: SignedDocumentEvent) -> HandlingResult:
        calls: list[RdCall] = []
        started = time.monotonic()
        try:
            # Copies of one event delivered at once wait here, then find it done: one effect.
            async with self.pipeline.document_lock(event):
                record = await self.store.begin_attempt(event)
                if record.status == EventStatus.DONE:
                    return Duplicate(record.deal_id, record.duplicates)
                result = await self.pipeline.apply(event, calls)
                await self.store.finish_event(
                    event.event_id,
                    status=EventStatus.DONE,
                    outcome=result.outcome,
                    deal_id=result.deal_id,
                    rd_calls=[call.as_history() for call in calls],
                    duration_ms=elapsed_ms(started),
                    note=result.note,
                )
        except Exception as exc:
            return Failed(exc, [call.as_history() for call in calls], started)
        return Processed(result, len(calls), elapsed_ms(started))

    async def record_failure(
        self, event: SignedDocumentEvent, failed: Failed, status: EventStatus, reason: str
    ) -> None:
        """Write what became of a failed attempt into the event's history."""
        # The message copy is already safe in a retry tier or the parking lot, or back in the
        # broker: a store that is down at this moment costs the history row an update, not the
        # event.
        try:
            await self.store.finish_event(
                event.event_id,
                status=status,
                rd_calls=failed.history,
                error=reason,
                duration_ms=elapsed_ms(failed.started),
            )
        except Exception as exc:
            log.error("history.write_failed", status=status.value, error=str(exc))

    async def record_unreadable(self, message: UnreadableMessage, reason: str) -> None:
        """Give a parked message that is no event its history row; best effort (it is parked
        already)."""
        try:
            await self.store.record_unreadable(
                message.event_id,
                document_key=message.document_key,
                event_name=message.event_name,
                correlation_id=message.correlation_id,
                received_at=message.received_at,
                reason=reason,
            )
        except Exception as exc:
            log.error("history.write_failed", status=EventStatus.PARKED.value, error=str(exc))

    async def record_handed_back(self, event_id: str, error: BaseException) -> None:
        """A delivery went back to the broker after a failure nothing else handled: the history
        row must not stay 'processing'. Best effort: the event is safe in the broker anyway."""
        with contextlib.suppress(Exception):
            await self.store.finish_event(
                event_id,
                status=EventStatus.FAILED,
                error=f"handed back to the broker: {describe_failure(error)}",
            )


def elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
