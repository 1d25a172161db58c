"""Publish a `SignedDocumentEvent` and return only once the broker has confirmed it.

"Confirmed" means a publisher confirm (ack) for a message that reached at least one queue: a nack,
a return (unroutable, thanks to ``mandatory`` + ``on_return_raises``), a lost connection or no
answer within the timeout all raise `PublishFailed`, which the webhook view turns into a 503.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError
from pamqp.commands import Basic

from shared import tracing
from shared.events import SignedDocumentEvent
from shared.topology import routing_key_for

APP_ID = "signdeal-ingest"


class PublishFailed(Exception):
    """The broker did not take responsibility for the event; the sender must retry later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        # aiormq matches a returned message to its publish by message_id; two concurrent publishes
        # of one event_id on the channel could have a return credited to the wrong one.
        self._in_flight: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def publish(self, event: SignedDocumentEvent) -> None:
        """Return once the broker confirmed ``event``; raise `PublishFailed` otherwise."""
        exchange = self._source.events_exchange
        if exchange is None or not self._source.is_connected:
            raise PublishFailed("broker not connected")
        lock = self._in_flight.setdefault(event.event_id, asyncio.Lock())
        async with lock:
            await self._publish_confirmed(exchange, event)

    async def _publish_confirmed(
        self, exchange: AbstractExchange, event: SignedDocumentEvent
    ) -> None:
        routing_key = routing_key_for(event.event_name)
        try:
            async with asyncio.timeout(self._timeout):
                with tracing.publish_span(exchange.name, routing_key, event.event_id):
                    confirmation = await exchange.publish(
                        build_message(event), routing_key, mandatory=True
                    )
        except TimeoutError as exc:
            raise PublishFailed("no publisher confirm in time") from exc
        except PublishError as exc:
            raise PublishFailed("unroutable: no queue bound for the event") from exc
        except DeliveryError as exc:
            raise PublishFailed("broker refused the message (nack)") from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise PublishFailed(f"broker unavailable: {type(exc).__name__}") from exc
        if not isinstance(confirmation, Basic.Ack):
            # A channel opened without confirms or without on_return_raises lands here.
            raise PublishFailed("message not confirmed by the broker")
