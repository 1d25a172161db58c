"""Publish a `SignedDocumentEvent` and return only once the broker has confirmed it.

"Confirmed" is `shared.publishing.publish_confirmed`'s: a nack, a return, a lost connection or
no answer within the timeout all raise `PublishFailed`, which the webhook view turns into a 503.
"""

from __future__ import annotations

from typing import Protocol

from aio_pika.abc import AbstractExchange

from shared import tracing
from shared.events import SignedDocumentEvent
from shared.messages import build_message
from shared.publishing import PublishFailed, publish_confirmed
from shared.topology import routing_key_for


class EventsExchangeSource(Protocol):
    """Where the publisher finds the exchange; None while the broker is not connected."""

    @property
    def is_connected(self) -> bool: ...

    @property
    def events_exchange(self) -> AbstractExchange | None: ...


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
