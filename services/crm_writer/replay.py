"""Replay: move parked events from the parking lot back to the work queue.

The parking lot is read with ``basic.get``, one message at a time. A selected message is copied
to the work queue (persistent, ``mandatory``, publisher confirm) with a fresh retry budget, and
only acked once the broker confirmed the copy; a message that is not selected is held unacked
(so the loop cannot fetch it twice) and handed back to the parking lot when the scan ends, in the
order it was read. A crash half-way loses nothing either: the broker returns whatever a closed
channel held unacked, and a message whose copy was confirmed but whose ack was lost is replayed
twice, which the consumer's idempotency absorbs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from shared.events import InvalidClicksignPayload
from shared.logging import get_logger
from shared.messages import (
    ATTEMPTS_HEADER,
    DEATH_HEADER,
    DEATH_SUMMARY_HEADERS,
    DELIVERY_COUNT_HEADER,
    LAST_ERROR_HEADER,
    PARKED_AT_HEADER,
    PARKED_REASON_HEADER,
    REPLAYED_AT_HEADER,
    ROUTING_KEY_HEADER,
    decode_event,
)
from shared.publishing import PublishFailed, copy_message, publish_confirmed
from shared.topology import Topology

log = get_logger()

# How many parked messages one call reads at most (unselected ones are held in memory).
DEFAULT_MAX_SCAN = 10_000
PUBLISH_TIMEOUT_SECONDS = 10.0
GET_TIMEOUT_SECONDS = 10.0

# What the broker or the last failure wrote on the message; a replayed copy starts clean.
_FAILURE_HEADERS = frozenset(
    {
        ATTEMPTS_HEADER,
        LAST_ERROR_HEADER,
        PARKED_REASON_HEADER,
        PARKED_AT_HEADER,
        DELIVERY_COUNT_HEADER,
        DEATH_HEADER,
        *DEATH_SUMMARY_HEADERS,
    }
)


class ReplayFailed(Exception):
    """The broker did not confirm a replayed copy; its parked original stays parked."""


@dataclass(frozen=True)
class ParkedEvent:
    """One parked message as the report shows it."""

    event_id: str | None
    document_key: str | None
    reason: str


@dataclass
class ReplayReport:
    """What one replay did: ``replayed`` are back in the work queue, ``kept`` stayed parked."""

    replayed: list[ParkedEvent] = field(default_factory=list)
    kept: list[ParkedEvent] = field(default_factory=list)
    # True when ``max_scan`` stopped the scan before the parking lot was read to the end.
    truncated: bool = False
    error: str | None = None

    @property
    def scanned(self) -> int:
        return len(self.replayed) + len(self.kept)

    @property
    def replayed_ids(self) -> list[str | None]:
        return [event.event_id for event in self.replayed]

    @property
    def replayed_event_ids(self) -> list[str]:
        """The ids of the replayed events the history can know (a message without one is
        not an event it holds): what a replay is recorded on."""
        return [event_id for event_id in self.replayed_ids if event_id is not None]


@dataclass(frozen=True)
class _Selection:
    event_ids: frozenset[str]
    document_key: str | None
    all_parked: bool

    def matches(self, parked: ParkedEvent) -> bool:
        if self.all_parked:
            return True
        if parked.event_id is not None and parked.event_id in self.event_ids:
            return True
        return self.document_key is not None and parked.document_key == self.document_key


async def replay_parked(
    connection_or_channel: AbstractConnection | AbstractChannel,
    topology: Topology,
    *,
    event_ids: Iterable[str] | None = None,
    document_key: str | None = None,
    all_parked: bool = False,
    limit: int | None = None,
    max_scan: int = DEFAULT_MAX_SCAN,
) -> ReplayReport:
    """Move parked messages back to the work queue, where they are processed as new.

    Select them by event id (the AMQP ``message_id``), by document key (read from the body), or
    ``all_parked``; ids and a key together select either. Only ``all_parked`` replays messages
    whose body cannot be read. ``limit`` caps how many are replayed. A channel passed in must
    have publisher confirms on; given a connection, a channel is opened and closed here.
    """
    selection = _selection(event_ids, document_key, all_parked)
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    if isinstance(connection_or_channel, AbstractChannel):
        return await _replay(connection_or_channel, topology, selection, limit, max_scan)
    channel = await connection_or_channel.channel(publisher_confirms=True, on_return_raises=True)
    try:
        return await _replay(channel, topology, selection, limit, max_scan)
    finally:
        if not channel.is_closed:
            await channel.close()


def _selection(
    event_ids: Iterable[str] | None, document_key: str | None, all_parked: bool
) -> _Selection:
    ids = frozenset(event_ids or ())
    if all_parked and (ids or document_key):
        raise ValueError("all_parked replays everything: do not combine it with a selection")
    if not (all_parked or ids or document_key):
        raise ValueError("say what to replay: event_ids, document_key or all_parked=True")
    return _Selection(ids, document_key, all_parked)


async def _replay(
    channel: AbstractChannel,
    topology: Topology,
    selection: _Selection,
    limit: int | None,
    max_scan: int,
) -> ReplayReport:
    report = ReplayReport()
    held: list[AbstractIncomingMessage] = []
    parking_lot = await channel.declare_queue(topology.dead_queue, passive=True)
    try:
        while limit is None or len(report.replayed) < limit:
            if report.scanned >= max_scan:
                report.truncated = True
                break
            message = await _next(parking_lot)
            if message is None:
                break
            parked = describe_parked(message)
            if not selection.matches(parked):
                held.append(message)
                report.kept.append(parked)
                continue
            try:
                await _send_to_work_queue(channel, topology, message)
            except ReplayFailed as exc:
                # The broker is in trouble: stop here, the rest stays parked.
                held.append(message)
                report.kept.append(parked)
                report.error = f"{parked.event_id}: {exc}"
                log.error("replay.failed", message_id=parked.event_id, error=str(exc))
                break
            report.replayed.append(parked)
            log.info("replay.replayed", message_id=parked.event_id, parked_reason=parked.reason)
            try:
                await message.ack()
            except Exception as exc:
                # The copy is in the work queue; the original returns to the parking lot with
                # the channel, and replaying it again later only makes a duplicate.
                report.error = f"{parked.event_id}: replayed, but the parked copy stays: {exc}"
                log.warning("replay.ack_failed", message_id=parked.event_id, error=str(exc))
                break
    finally:
        await _hand_back(held)
    log.info(
        "replay.finished",
        replayed=len(report.replayed),
        kept=len(report.kept),
        truncated=report.truncated,
    )
    return report


async def _next(parking_lot: AbstractQueue) -> AbstractIncomingMessage | None:
    return await parking_lot.get(no_ack=False, fail=False, timeout=GET_TIMEOUT_SECONDS)


def describe_parked(message: AbstractIncomingMessage) -> ParkedEvent:
    """Event id, document key (None when the body is unreadable) and why it was parked."""
    try:
        document_key: str | None = decode_event(message).document_key
    except InvalidClicksignPayload:
        document_key = None
    return ParkedEvent(message.message_id, document_key, parked_reason(message.headers or {}))


def parked_reason(headers: dict[str, Any]) -> str:
    """The consumer's reason header or, for a message the broker parked, its dead-letter
    reason (``delivery_limit``: it crashed the consumer on every delivery)."""
    reason = headers.get(PARKED_REASON_HEADER)
    if isinstance(reason, str) and reason:
        return reason
    deaths = headers.get(DEATH_HEADER)
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return f"dead-lettered by the broker: {deaths[0].get('reason')}"
    return "unknown"


async def _send_to_work_queue(
    channel: AbstractChannel, topology: Topology, message: AbstractIncomingMessage
) -> None:
    """A copy straight to the work queue (not through the events exchange, which could also
    reach other queues bound to it), confirmed by the broker."""
    try:
        await publish_confirmed(
            channel.default_exchange,
            copy_message(message, _replay_headers(message)),
            topology.work_queue,
            timeout_seconds=PUBLISH_TIMEOUT_SECONDS,
        )
    except PublishFailed as exc:
        raise ReplayFailed(exc.reason) from exc


def _replay_headers(message: AbstractIncomingMessage) -> dict[str, Any]:
    headers: dict[str, Any] = {
        key: value for key, value in (message.headers or {}).items() if key not in _FAILURE_HEADERS
    }
    if not headers.get(ROUTING_KEY_HEADER):
        headers[ROUTING_KEY_HEADER] = _first_death_routing_key(message.headers or {})
    headers[ATTEMPTS_HEADER] = 0
    headers[REPLAYED_AT_HEADER] = datetime.now(UTC).isoformat()
    return headers


def _first_death_routing_key(headers: dict[str, Any]) -> str:
    deaths = headers.get(DEATH_HEADER)
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], dict):
        keys = deaths[-1].get("routing-keys")
        if isinstance(keys, list) and keys:
            return str(keys[0])
    return ""


async def _hand_back(held: list[AbstractIncomingMessage]) -> None:
    """Unselected messages go back to the parking lot untouched, in the order they were read.

    If the channel died meanwhile the broker has already returned them."""
    for message in held:
        try:
            await message.nack(requeue=True)
        except Exception as exc:
            log.warning("replay.hand_back_skipped", error=str(exc) or type(exc).__name__)
