"""The one way signdeal publishes: confirmed by the broker, or an error.

Every message that must not be lost (ingest's event, the consumer's retry and parking-lot copies,
a replayed copy) goes through `publish_confirmed`: ``mandatory`` so that an unroutable message
comes back, a publisher confirm awaited within a deadline, and anything else than a plain
``Basic.Ack`` — a return, a nack, a lost connection, no answer in time — raised as
`PublishFailed`. The caller then keeps the original (a 503 to Clicksign, a delivery not acked),
so the event is delayed, never lost.

`copy_message` builds the one copy of a delivered message that the consumer and replay send on.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError, DeliveryError, PublishError
from pamqp.commands import Basic

DEFAULT_CONFIRM_TIMEOUT_SECONDS = 10.0


class PublishFailed(Exception):
    """The broker did not take responsibility for the message; ``unroutable`` when it came back
    because no queue is bound for it."""

    def __init__(self, reason: str, *, unroutable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unroutable = unroutable


# aiormq matches a returned message to its publish by message_id: two publishes of one id in
# flight at once on a channel could have a return credited to the wrong one, so they take turns.
_in_flight: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


async def publish_confirmed(
    exchange: AbstractExchange,
    message: aio_pika.Message,
    routing_key: str,
    *,
    timeout_seconds: float = DEFAULT_CONFIRM_TIMEOUT_SECONDS,
) -> None:
    """Publish ``message`` and return once the broker confirmed it reached a queue.

    The exchange's channel must have publisher confirms on; whether it raises on returns or not,
    a returned message is reported as `PublishFailed` (``unroutable=True``).
    """
    lock = _in_flight.setdefault(message.message_id or "", asyncio.Lock())
    async with lock:
        try:
            async with asyncio.timeout(timeout_seconds):
                confirmation = await exchange.publish(message, routing_key, mandatory=True)
        except TimeoutError as exc:
            raise PublishFailed("no publisher confirm in time") from exc
        except PublishError as exc:
            raise PublishFailed(
                f"unroutable: no queue bound for {routing_key!r}", unroutable=True
            ) from exc
        except DeliveryError as exc:
            raise PublishFailed("broker refused the message (nack)") from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise PublishFailed(f"broker unavailable: {type(exc).__name__}") from exc
        except AMQPError as exc:  # e.g. the exchange does not exist: the channel is closed
            raise PublishFailed(f"broker refused the publish: {type(exc).__name__}: {exc}") from exc
    if isinstance(confirmation, Basic.Ack):
        return
    if confirmation is None:
        # A channel opened without publisher confirms answers None: nothing was confirmed.
        raise PublishFailed("message not confirmed: the channel has no publisher confirms")
    # A channel opened without on_return_raises resolves a returned message to it.
    raise PublishFailed(f"unroutable: no queue bound for {routing_key!r}", unroutable=True)


def copy_message(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of a delivered message with every property kept and ``headers``
    as the whole header table (the caller decides what to drop or add)."""
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
        app_id=message.app_id,
    )
