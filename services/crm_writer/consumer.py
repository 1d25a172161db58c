"""The aio-pika consumer: deliveries in, outcomes recorded, then acked.

It does AMQP — decode, settle, retry, park — around the `EventHandler`
(`services.crm_writer.handler`), which owns the exactly-once work and the history.
A delivery is acknowledged only after its outcome is in the store and, for a retry or a parked
event, after the copy sent to the retry tier or the parking lot was confirmed by the broker. A copy
the broker does not take (a retry queue deleted meanwhile, a nack) is tried once more after the
topology is declared again; if it still is not taken the original goes back to the broker instead
of being acked, so the event is delayed, never lost.
A message the consumer cannot understand is parked, never dropped; an unexpected crash hands the
message back to the broker, whose delivery limit parks it if it keeps failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aio_pika import Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from services.crm_writer.handler import Duplicate, EventHandler, Failed
from services.crm_writer.observer import CrmWriterObserver, MessageOutcome, NullObserver
from services.crm_writer.retry_policy import Park, Retry, RetryPolicy, describe_failure
from services.crm_writer.store import EventStatus
from shared import tracing
from shared.events import InvalidClicksignPayload, SignedDocumentEvent
from shared.logging import bind_event_context, get_logger, redact_text
from shared.messages import (
    ATTEMPTS_HEADER,
    DEATH_HEADER,
    LAST_ERROR_HEADER,
    PARKED_AT_HEADER,
    PARKED_REASON_HEADER,
    ROUTING_KEY_HEADER,
    attempts,
    budget_started_at,
    decode_event,
    delivery_count,
    original_routing_key,
    unreadable_message,
)
from shared.publishing import PublishFailed, copy_message, publish_confirmed
from shared.topology import Topology, declare_topology

log = get_logger()


@dataclass
class DealConsumer:
    """Consumes ``crm_writer.deals``; ``prefetch`` is how many events are handled at once."""

    connection: AbstractRobustConnection
    topology: Topology
    handler: EventHandler
    policy: RetryPolicy
    prefetch: int = 8
    observer: CrmWriterObserver = field(default_factory=NullObserver)
    _channel: AbstractChannel | None = field(default=None, init=False)
    _queue: AbstractQueue | None = field(default=None, init=False)
    _consumer_tag: str | None = field(default=None, init=False)
    _in_flight: set[asyncio.Task[Any]] = field(default_factory=set, init=False)

    async def start(self) -> None:
        self._channel = await self.connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await declare_topology(self._channel, self.topology)
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("consumer.started", queue=self.topology.work_queue, prefetch=self.prefetch)

    async def stop(self, drain_seconds: float) -> None:
        """Stop taking deliveries, let the ones in hand finish (up to ``drain_seconds``), close."""
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as exc:  # the channel may already be gone
                log.warning("consumer.cancel_failed", error=str(exc))
        pending = set(self._in_flight)
        if pending:
            log.info("consumer.draining", in_flight=len(pending))
            _, still_running = await asyncio.wait(pending, timeout=drain_seconds)
            for task in still_running:
                task.cancel()
            if still_running:
                log.warning("consumer.drain_timeout", cancelled=len(still_running))
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        log.info("consumer.stopped")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # aiormq cancels a channel's consumer callbacks when the channel dies, which would stop
        # an event half-way through its RD calls and store writes. It runs in a task of its own
        # instead: after a cut it finishes, its ack is skipped, and the redelivery finds it done.
        task = asyncio.create_task(self.handle(message))
        self._in_flight.add(task)
        task.add_done_callback(self._handled)
        await asyncio.wait([task])

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _log_unfailing("message.handling_failed", error)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """Settle one delivery and report its outcome and how long it took.

        Whatever fails on the way — the pipeline, the store, a log line, a metric, a span — the
        delivery is settled: a failure nothing else handled hands it back to the broker like a
        crash (its delivery limit parks it if it keeps failing), never leaves it unacked."""
        started = time.monotonic()
        try:
            with tracing.consume_span(message, self.topology.work_queue) as span:
                outcome = await self._settle(message)
                tracing.set_outcome(span, outcome.value)
        except Exception as exc:
            outcome = MessageOutcome.CRASHED
            await self._settle_unhandled(message, exc)
        try:
            self.observer.message_handled(outcome, time.monotonic() - started)
        except Exception as exc:  # a metric never fails a delivery that is already settled
            _log_unfailing("metrics.failed", exc)

    async def _settle_unhandled(self, message: AbstractIncomingMessage, error: Exception) -> None:
        _log_unfailing("message.handling_failed", error)
        if not message.processed:
            try:
                await message.reject(requeue=True)
            except Exception as exc:  # a dead channel: the broker redelivers it anyway
                _log_unfailing("message.reject_skipped", exc)
        if message.message_id:
            await self.handler.record_handed_back(message.message_id, error)

    async def _settle(self, message: AbstractIncomingMessage) -> MessageOutcome:
        try:
            event = decode_event(message)
        except InvalidClicksignPayload as exc:
            await self._park_unreadable(message, str(exc))
            return MessageOutcome.UNREADABLE
        context = event.log_context()
        tracing.annotate_current(context)
        with bind_event_context(context):
            return await self._handle_event(message, event)

    async def _handle_event(
        self, message: AbstractIncomingMessage, event: SignedDocumentEvent
    ) -> MessageOutcome:
        log.info("event.consumed", event_name=event.event_name, redelivered=message.redelivered)
        handled = await self.handler.handle(event)
        if isinstance(handled, Failed):
            return await self._after_failure(message, event, handled)
        if isinstance(handled, Duplicate):
            log.info("event.duplicate", deal_id=handled.deal_id, duplicates=handled.duplicates)
            await _ack(message)
            return MessageOutcome.DUPLICATE
        result = handled.result
        log.info(
            "event.processed",
            outcome=result.outcome.value,
            deal_id=result.deal_id,
            contacts=len(result.contact_ids),
            rd_calls=handled.rd_calls,
            duration_ms=handled.duration_ms,
        )
        await _ack(message)
        return MessageOutcome(result.outcome.value)

    async def _after_failure(
        self, message: AbstractIncomingMessage, event: SignedDocumentEvent, failed: Failed
    ) -> MessageOutcome:
        tries = attempts(message) + 1
        decision = self.policy.decide(
            failed.error, tries, budget_started_at(message, event), datetime.now(UTC)
        )
        if decision is None:
            await self._after_crash(message, event, failed)
            return MessageOutcome.CRASHED
        try:
            if isinstance(decision, Retry):
                await self._send_to_retry(message, decision, tries)
            else:
                await self._park(message, decision, tries)
        except PublishFailed as exc:
            await self._after_copy_refused(message, event, decision, exc, failed)
            return MessageOutcome.CRASHED
        if isinstance(decision, Retry):
            status, outcome = EventStatus.RETRYING, MessageOutcome.RETRIED
            log.warning(
                "event.retry_scheduled",
                attempts=tries,
                delay_seconds=decision.delay_seconds,
                error=decision.reason,
            )
        else:
            status, outcome = EventStatus.PARKED, MessageOutcome.PARKED
            log.error("event.parked", attempts=tries, reason=decision.reason)
        await self.handler.record_failure(event, failed, status, decision.reason)
        await _ack(message)
        return outcome

    async def _after_copy_refused(
        self,
        message: AbstractIncomingMessage,
        event: SignedDocumentEvent,
        decision: Retry | Park,
        error: PublishFailed,
        failed: Failed,
    ) -> None:
        """The retry or parking-lot copy was not taken: the original is handed back to the
        broker, which delivers it again (and parks it by its delivery limit if this persists)."""
        where = "retry tier" if isinstance(decision, Retry) else "parking lot"
        reason = f"the {where} did not take the event ({error.reason}); handed back to the broker"
        log.error("event.copy_refused", destination=where, error=error.reason)
        await self.handler.record_failure(
            event, failed, EventStatus.FAILED, f"{reason}: {decision.reason}"
        )
        await _reject_requeue(message)

    async def _after_crash(
        self, message: AbstractIncomingMessage, event: SignedDocumentEvent, failed: Failed
    ) -> None:
        """A failure nobody understands goes back to the broker; after `delivery_limit` more
        deliveries the broker dead-letters it to the parking lot, and the history says so."""
        deliveries = delivery_count(message) + 1
        log.error("event.crashed", deliveries=deliveries, exc_info=failed.error)
        reason = describe_failure(failed.error)
        status = EventStatus.FAILED
        if deliveries > self.topology.delivery_limit:
            status = EventStatus.PARKED
            reason = f"parked by the delivery limit after {deliveries} deliveries: {reason}"
        await self.handler.record_failure(event, failed, status, reason)
        await _reject_requeue(message)

    async def _send_to_retry(
        self, message: AbstractIncomingMessage, decision: Retry, tries: int
    ) -> None:
        headers = {
            ATTEMPTS_HEADER: tries if decision.counts_as_attempt else tries - 1,
            LAST_ERROR_HEADER: decision.reason[:500],
            ROUTING_KEY_HEADER: original_routing_key(message),
        }
        await self._republish(
            message, "", self.topology.retry_queue(decision.delay_seconds), headers
        )

    async def _park(self, message: AbstractIncomingMessage, decision: Park, tries: int) -> None:
        headers = {
            ATTEMPTS_HEADER: tries,
            PARKED_REASON_HEADER: decision.reason[:1000],
            PARKED_AT_HEADER: datetime.now(UTC).isoformat(),
            ROUTING_KEY_HEADER: original_routing_key(message),
        }
        await self._republish(
            message, self.topology.dead_letter_exchange, self.topology.dead_queue, headers
        )

    async def _park_unreadable(self, message: AbstractIncomingMessage, reason: str) -> None:
        log.error("event.unreadable", reason=reason, message_id=message.message_id)
        parked = Park(f"unreadable message: {reason}")
        try:
            await self._park(message, parked, attempts(message))
        except PublishFailed as exc:
            log.error("event.copy_refused", destination="parking lot", error=exc.reason)
            await _reject_requeue(message)
            return
        # Every parked message has its history row, so the page and `signdeal history` show it
        # next to the others. The copy is already safe in the parking lot: a store that is down
        # costs the row, not the message.
        await self.handler.record_unreadable(unreadable_message(message), parked.reason)
        await _ack(message)

    async def _republish(
        self,
        message: AbstractIncomingMessage,
        exchange_name: str,
        routing_key: str,
        extra_headers: dict[str, Any],
    ) -> None:
        """Send a confirmed copy; if the broker returns it as unroutable (a queue deleted during
        a topology change), declare the topology again and try once more."""
        headers = {
            key: value for key, value in (message.headers or {}).items() if key != DEATH_HEADER
        }
        headers.update(extra_headers)
        copy = copy_message(message, headers)
        try:
            await self._publish_copy(copy, exchange_name, routing_key)
        except PublishFailed as exc:
            if not exc.unroutable:
                raise
            log.warning("broker.redeclaring_topology", routing_key=routing_key, error=exc.reason)
            await self._redeclare_topology()
            await self._publish_copy(copy, exchange_name, routing_key)

    async def _publish_copy(self, copy: Message, exchange_name: str, routing_key: str) -> None:
        assert self._channel is not None
        exchange = (
            self._channel.default_exchange
            if not exchange_name
            else await self._channel.get_exchange(exchange_name, ensure=False)
        )
        await publish_confirmed(exchange, copy, routing_key)

    async def _redeclare_topology(self) -> None:
        assert self._channel is not None
        try:
            await declare_topology(self._channel, self.topology)
        except Exception as exc:  # a mismatch closes the channel: the original is redelivered
            raise PublishFailed(f"topology could not be declared again: {exc}") from exc


def _log_unfailing(event: str, error: BaseException) -> None:
    """Log ``error``; if logging itself fails (a broken renderer, a closed stream), say so on
    stderr in one plain line instead of raising into the consumer."""
    try:
        log.error(event, exc_info=error)
    except Exception as logging_error:
        with contextlib.suppress(Exception):
            print(
                f"crm_writer: {event}: {type(error).__name__}: {redact_text(str(error))} "
                f"(and logging failed: {type(logging_error).__name__})",
                file=sys.stderr,
            )


async def _ack(message: AbstractIncomingMessage) -> None:
    # A delivery from a channel that died meanwhile cannot be acked; the broker redelivers it.
    try:
        await message.ack()
    except Exception as exc:
        log.warning("message.ack_skipped", error=str(exc) or type(exc).__name__)


async def _reject_requeue(message: AbstractIncomingMessage) -> None:
    # basic.reject, not basic.nack: from RabbitMQ 4.3 only a reject counts against the quorum
    # queue's delivery limit (up to 4.2 both do), and the limit is what ends a poison loop.
    try:
        await message.reject(requeue=True)
    except Exception as exc:
        log.warning("message.reject_skipped", error=str(exc) or type(exc).__name__)
