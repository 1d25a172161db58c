"""The one confirmed publish and the one message copy, against the real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.publishing import PublishFailed, copy_message, publish_confirmed
from shared.topology import Topology


async def test_a_copy_keeps_every_property_of_the_delivered_message(
    amqp_connection: AbstractRobustConnection, topology: Topology
) -> None:
    channel = await amqp_connection.channel(publisher_confirms=True, on_return_raises=True)
    queue = await channel.declare_queue(topology.work_queue, auto_delete=True)
    original = aio_pika.Message(
        body=b'{"event_id": "e-1"}',
        headers={"schema_version": 1, "x-signdeal-attempts": 2},
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id="e-1",
        correlation_id="req-1",
        type="sign",
        timestamp=datetime(2024, 5, 2, 13, 15, 30, tzinfo=UTC),
        app_id="signdeal-ingest",
    )
    await publish_confirmed(channel.default_exchange, original, queue.name)
    delivered = await queue.get(timeout=5)
    await delivered.ack()

    await publish_confirmed(
        channel.default_exchange, copy_message(delivered, {"x-signdeal-attempts": 3}), queue.name
    )
    copied = await queue.get(timeout=5)
    await copied.ack()

    assert copied.body == original.body
    assert copied.headers == {"x-signdeal-attempts": 3}
    for name in (
        "content_type",
        "content_encoding",
        "message_id",
        "correlation_id",
        "type",
        "timestamp",
        "app_id",
    ):
        assert getattr(copied, name) == getattr(delivered, name), name
    assert copied.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


@pytest.mark.parametrize("on_return_raises", [True, False])
async def test_an_unroutable_message_is_a_failure_whatever_the_channel(
    amqp_connection: AbstractRobustConnection, topology: Topology, on_return_raises: bool
) -> None:
    channel = await amqp_connection.channel(
        publisher_confirms=True, on_return_raises=on_return_raises
    )
    message = aio_pika.Message(b"{}", message_id="e-2")

    with pytest.raises(PublishFailed) as failure:
        await publish_confirmed(channel.default_exchange, message, topology.work_queue)

    assert failure.value.unroutable


async def test_a_channel_without_confirms_confirms_nothing(
    amqp_connection: AbstractRobustConnection, topology: Topology
) -> None:
    channel = await amqp_connection.channel(publisher_confirms=False)
    queue = await channel.declare_queue(topology.work_queue, auto_delete=True)

    with pytest.raises(PublishFailed, match="no publisher confirms"):
        await publish_confirmed(
            channel.default_exchange, aio_pika.Message(b"{}", message_id="e-3"), queue.name
        )
