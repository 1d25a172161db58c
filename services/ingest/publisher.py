"""Publish a `SignedDocumentEvent` and return only once the broker has confirmed it.

"Confirmed" is `shared.publishing.publish_confirmed`'s: a nack, a return, a lost connection or
no answer within the timeout all raise `PublishFailed`, which the webhook view turns into a 503.
"""

from __future__ import annotations

from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractExchange

from shared import tracing
from shared.events import SignedDocumentEvent
from shared.publishing import PublishFailed, publish_confirmed
from shared.topology import routing_key_for

APP_ID = "signdeal-ingest"


class EventsExchangeSource(Protocol):
    """Where the publisher finds the exchange; None while the broker is not connected."""

    @property
    def is_connected(self) -> bool: ...

    @property
    def events_exchange(self) -> AbstractExchange | None: ...


def build_message(event: SignedDocumentEvent) -> aio_pika.Message:
    """The AMQP message for ``event``, with the properties DESIGN.md promises consumers; with
    tracing on, ``traceparent`` names the current span as the consumer's parent."""
    headers: dict[str, Any] = {"schema_version": event.schema_version}
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


class EventPublisher:
    """Publishes events with publisher confirms, ``mandatory`` and a deadline."""

    def __init__(self, source: EventsExchangeSource, *, timeout_seconds: float) -> None:
        self._source = source
        self._timeout = timeout_seconds

    async def publish(self, event: SignedDocumentEvent) -> None:
        """Return once the broker confirmed ``event``; raise `PublishFailed` otherwise."""
        exchange = self._source.events_exchange
        if exchange is None or not self._source.is_connected:
            raise PublishFailed("broker not connected")
        routing_key = routing_key_for(event.event_name)
        with tracing.publish_span(exchange.name, routing_key, event.event_id):
            await publish_confirmed(
                exchange, build_message(event), routing_key, timeout_seconds=self._timeout
            )
