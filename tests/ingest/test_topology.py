"""The AMQP topology on the real broker: idempotent, and clear when an older one is in the way."""

from __future__ import annotations

import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.topology import Topology, TopologyMismatch, declare_topology


async def test_declaring_twice_is_harmless(
    amqp_connection: AbstractRobustConnection, topology: Topology
) -> None:
    channel = await amqp_connection.channel()
    first = await declare_topology(channel, topology)
    second = await declare_topology(channel, topology)
    assert first.name == second.name == topology.work_queue


async def test_a_queue_with_other_arguments_names_itself_and_the_fix(
    amqp_connection: AbstractRobustConnection, topology: Topology
) -> None:
    channel = await amqp_connection.channel()
    await channel.declare_queue(
        topology.work_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )

    with pytest.raises(TopologyMismatch) as caught:
        await declare_topology(await amqp_connection.channel(), topology)

    message = str(caught.value)
    assert topology.work_queue in message
    assert f"rabbitmqctl delete_queue {topology.work_queue}" in message
