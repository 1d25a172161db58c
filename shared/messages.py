"""The AMQP message that carries one event, as ingest writes it and crm_writer reads it.

Properties (docs/architecture.md, "The message"): persistent, ``content_type=application/json``,
``message_id`` = the event id, ``correlation_id``, ``type`` = the event name, ``timestamp`` = when
ingest received it, ``app_id``; headers ``schema_version`` and, with tracing on, ``traceparent``.
On the way through retry tiers and the parking lot the consumer adds the ``x-signdeal-*``
headers below, and replay resets them; the broker adds ``x-delivery-count`` and ``x-death``.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage

from shared import tracing
from shared.events import (
    SCHEMA_VERSION,
    InvalidClicksignPayload,
    SignedDocumentEvent,
    parse_timestamp,
)

APP_ID = "signdeal-ingest"
SCHEMA_VERSION_HEADER = "schema_version"
# How many attempts failed before this copy (a rate limit does not count).
ATTEMPTS_HEADER = "x-signdeal-attempts"
LAST_ERROR_HEADER = "x-signdeal-last-error"
PARKED_REASON_HEADER = "x-signdeal-parked-reason"
PARKED_AT_HEADER = "x-signdeal-parked-at"
# The routing key ingest published with (a copy from a retry tier carries the work queue's name).
ROUTING_KEY_HEADER = "x-signdeal-routing-key"
# Set by replay: the retry budget's age counts from here.
REPLAYED_AT_HEADER = "x-signdeal-replayed-at"
# Set by quorum queues: how many times the broker handed this message out before.
DELIVERY_COUNT_HEADER = "x-delivery-count"
# Set by the broker when it dead-letters a message.
DEATH_HEADER = "x-death"
DEATH_SUMMARY_HEADERS = frozenset(
    {
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)


def build_message(event: SignedDocumentEvent) -> aio_pika.Message:
    """The AMQP message for ``event``; with tracing on, ``traceparent`` names the current span
    as the consumer's parent."""
    headers: dict[str, Any] = {SCHEMA_VERSION_HEADER: event.schema_version}
    tracing.inject_context(headers)
    return aio_pika.Message(
        body=event.to_json(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event.event_id,
        correlation_id=event.correlation_id,
        type=event.event_name,
        timestamp=event.received_at,
        app_id=APP_ID,
        headers=headers,
    )


def decode_event(message: AbstractIncomingMessage) -> SignedDocumentEvent:
    """The event in a delivery; `InvalidClicksignPayload` for garbage or another schema version."""
    version = (message.headers or {}).get(SCHEMA_VERSION_HEADER)
    if version is not None and version != SCHEMA_VERSION:
        raise InvalidClicksignPayload(f"unsupported schema_version {version!r}")
    event = SignedDocumentEvent.from_json(message.body)
    if event.schema_version != SCHEMA_VERSION:
        raise InvalidClicksignPayload(f"unsupported schema_version {event.schema_version!r}")
    return event


@dataclass(frozen=True)
class UnreadableMessage:
    """What the history can say of a message that is no event: who it claims to be."""

    event_id: str
    document_key: str
    event_name: str
    correlation_id: str
    received_at: datetime


def unreadable_message(message: AbstractIncomingMessage) -> UnreadableMessage:
    """Its properties (ingest's ``message_id`` is the event id), else a hash of its body; the
    document key when the body is JSON holding one, else empty."""
    body = message.body
    event_id = message.message_id or f"unreadable-{hashlib.sha256(body).hexdigest()[:32]}"
    document_key = ""
    with contextlib.suppress(orjson.JSONDecodeError):
        decoded = orjson.loads(body)
        document = decoded.get("document") if isinstance(decoded, dict) else None
        key = document.get("key") if isinstance(document, dict) else None
        document_key = key if isinstance(key, str) else ""
    return UnreadableMessage(
        event_id=event_id,
        document_key=document_key,
        event_name=message.type or "",
        correlation_id=message.correlation_id or "",
        # The stores take a naive time (as AMQP's timestamp property decodes) as UTC.
        received_at=message.timestamp or datetime.now(UTC),
    )


def attempts(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(ATTEMPTS_HEADER, 0)
    return value if isinstance(value, int) else 0


def delivery_count(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(DELIVERY_COUNT_HEADER, 0)
    return value if isinstance(value, int) else 0


def original_routing_key(message: AbstractIncomingMessage) -> str:
    """The key ingest published with: after a retry tier the delivery's own key is the work
    queue's name, so the first one travels in a header."""
    kept = (message.headers or {}).get(ROUTING_KEY_HEADER)
    return kept if isinstance(kept, str) and kept else message.routing_key or ""


def budget_started_at(message: AbstractIncomingMessage, event: SignedDocumentEvent) -> datetime:
    """Where the retry budget's age counts from: a replayed event gets a fresh budget."""
    replayed = parse_timestamp((message.headers or {}).get(REPLAYED_AT_HEADER))
    return replayed if replayed is not None else event.received_at
