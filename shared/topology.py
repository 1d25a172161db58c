"""The AMQP topology of signdeal, declared idempotently by both services from this one module.

- exchange ``signdeal.events`` (topic, durable); routing key ``clicksign.document.<event_name>``;
- queue ``crm_writer.deals`` (quorum) bound to ``clicksign.document.*``, with a delivery limit so a
  message that keeps crashing the consumer is dead-lettered to the parking lot;
- one retry queue per delay tier, each with a queue TTL that dead-letters back to the work queue
  (RabbitMQ 3.10 has no delayed-message plugin and no built-in delayed retry);
- queue ``crm_writer.deals.dead``: the parking lot.

The queues that dead-letter (the work queue and the retry tiers) do it *at least once*: RabbitMQ's
default dead-lettering drops the message from the source before the target has it, so a node
failure at that moment would lose an event on its way back from a retry tier or into the parking
lot. Changing these arguments on an existing installation means draining and deleting the
queues first: RabbitMQ refuses to redeclare a queue with different arguments.

Every name can carry a prefix (``AMQP_TOPOLOGY_PREFIX``) so tests and several installations can
share one broker without colliding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, ExchangeType
from aio_pika.exceptions import ChannelPreconditionFailed

ROUTING_KEY_PREFIX = "clicksign.document."
DEFAULT_RETRY_DELAYS_SECONDS: tuple[int, ...] = (5, 30, 120, 600, 3600)
DEFAULT_DELIVERY_LIMIT = 10


# Dead-lettering with internal publisher confirms (quorum queues, RabbitMQ 3.10+); it only takes
# effect together with ``reject-publish`` overflow, which never triggers here (no length limit).
AT_LEAST_ONCE_DEAD_LETTERING: dict[str, str] = {
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


def routing_key_for(event_name: str) -> str:
    return f"{ROUTING_KEY_PREFIX}{event_name}"


@dataclass(frozen=True)
class Topology:
    """Names and arguments of every exchange and queue signdeal uses."""

    prefix: str = ""
    retry_delays_seconds: tuple[int, ...] = DEFAULT_RETRY_DELAYS_SECONDS
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def events_exchange(self) -> str:
        return self._name("signdeal.events")

    @property
    def dead_letter_exchange(self) -> str:
        return self._name("signdeal.dead")

    @property
    def work_queue(self) -> str:
        return self._name("crm_writer.deals")

    @property
    def dead_queue(self) -> str:
        return self._name("crm_writer.deals.dead")

    def retry_queue(self, delay_seconds: int) -> str:
        return self._name(f"crm_writer.deals.retry.{delay_seconds}s")

    @property
    def retry_queues(self) -> list[str]:
        return [self.retry_queue(delay) for delay in self.retry_delays_seconds]

    @property
    def all_queues(self) -> list[str]:
        return [self.work_queue, *self.retry_queues, self.dead_queue]

    @property
    def all_exchanges(self) -> list[str]:
        return [self.events_exchange, self.dead_letter_exchange]


async def declare_events_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """The exchange ingest publishes to."""
    return await channel.declare_exchange(
        topology.events_exchange, ExchangeType.TOPIC, durable=True
    )


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractQueue:
    """Declare every exchange, queue and binding; returns the work queue."""
    events = await declare_events_exchange(channel, topology)
    dead_exchange = await channel.declare_exchange(
        topology.dead_letter_exchange, ExchangeType.DIRECT, durable=True
    )
    dead_queue = await _declare_queue(channel, topology.dead_queue, {"x-queue-type": "quorum"})
    await dead_queue.bind(dead_exchange, routing_key=topology.dead_queue)

    work_queue = await _declare_queue(
        channel,
        topology.work_queue,
        {
            "x-queue-type": "quorum",
            "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": topology.dead_queue,
            **AT_LEAST_ONCE_DEAD_LETTERING,
        },
    )
    await work_queue.bind(events, routing_key=f"{ROUTING_KEY_PREFIX}*")

    for delay in topology.retry_delays_seconds:
        # Expired messages go through the default exchange straight back to the work queue.
        await _declare_queue(
            channel,
            topology.retry_queue(delay),
            {
                "x-queue-type": "quorum",
                "x-message-ttl": delay * 1000,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": topology.work_queue,
                **AT_LEAST_ONCE_DEAD_LETTERING,
            },
        )
    return work_queue


class TopologyMismatch(Exception):
    """A queue exists on the broker with other arguments than this version declares."""


async def _declare_queue(
    channel: AbstractChannel, name: str, arguments: dict[str, Any]
) -> AbstractQueue:
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    except ChannelPreconditionFailed as exc:
        raise TopologyMismatch(
            f"queue {name} exists on the broker with other arguments than this version of "
            f"signdeal declares ({exc}); drain it, then delete it (rabbitmqctl delete_queue "
            f"{name}) so it is declared again, or use another AMQP_TOPOLOGY_PREFIX"
        ) from None


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Remove everything `declare_topology` made (tests and uninstall only)."""
    for queue in topology.all_queues:
        await channel.queue_delete(queue, if_unused=False, if_empty=False)
    for exchange in topology.all_exchanges:
        await channel.exchange_delete(exchange)
