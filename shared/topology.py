"""The AMQP topology of signdeal, declared idempotently by both services from this one module.

- exchange ``signdeal.events`` (topic, durable); routing key ``clicksign.document.<event_name>``;
- queue ``crm_writer.deals`` (quorum) bound to ``clicksign.document.*``, with a delivery limit so a
  message that keeps crashing the consumer is dead-lettered to the parking lot;
- one retry queue per delay tier, each with a queue TTL that dead-letters back to the work queue
  (RabbitMQ 3.10 has no delayed-message plugin and no built-in delayed retry);
- queue ``crm_writer.deals.dead``: the parking lot.

Every name can carry a prefix (``AMQP_TOPOLOGY_PREFIX``) so tests and several installations can
share one broker without colliding.
"""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, ExchangeType

ROUTING_KEY_PREFIX = "clicksign.document."
DEFAULT_RETRY_DELAYS_SECONDS: tuple[int, ...] = (5, 30, 120, 600, 3600)
DEFAULT_DELIVERY_LIMIT = 10


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
    dead_queue = await channel.declare_queue(
        topology.dead_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead_exchange, routing_key=topology.dead_queue)

    work_queue = await channel.declare_queue(
        topology.work_queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": topology.dead_queue,
        },
    )
    await work_queue.bind(events, routing_key=f"{ROUTING_KEY_PREFIX}*")

    for delay in topology.retry_delays_seconds:
        # Expired messages go through the default exchange straight back to the work queue.
        await channel.declare_queue(
            topology.retry_queue(delay),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": delay * 1000,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": topology.work_queue,
            },
        )
    return work_queue


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Remove everything `declare_topology` made (tests and uninstall only)."""
    for queue in topology.all_queues:
        await channel.queue_delete(queue, if_unused=False, if_empty=False)
    for exchange in topology.all_exchanges:
        await channel.exchange_delete(exchange)
