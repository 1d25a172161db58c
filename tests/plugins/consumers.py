"""crm_writer's consumer in process, wired like the app (`tests.consumer_harness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from services.crm_writer.consumer import DealConsumer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.store import Store
from shared.topology import Topology
from tests.consumer_harness import ConsumerFactory


@pytest_asyncio.fixture
async def consumer_factory(
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
    rd_client: RdStationClient,
    deal_settings: DealSettings,
) -> AsyncIterator[ConsumerFactory]:
    """Consumers on the test's AMQP names (tiers of 1, 2 and 4 s), three attempts within ten
    minutes, over the sandbox; stopped before the test's connection closes."""
    factory = ConsumerFactory(topology, rd_client, deal_settings, max_attempts=3)
    yield factory
    await factory.stop_all()


@pytest_asyncio.fixture
async def consumer(
    consumer_factory: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    sqlite_store: Store,
    channel: AbstractChannel,
) -> DealConsumer:
    """One of them, over ``sqlite_store``, handling four events at once; ``channel`` declares the
    topology first."""
    return await consumer_factory.start(amqp_connection, sqlite_store, prefetch=4)
