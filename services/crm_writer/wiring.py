"""How crm_writer's parts are put together, for the service, the CLI and the tests alike.

Whatever builds the consumer, the pipeline, the retry policy, the deal settings, the API clients
and their rate limiters for the service builds them for ``signdeal`` and for the test harnesses
too, so that the copies cannot drift.
"""

from __future__ import annotations

from aio_pika.abc import AbstractRobustConnection

from services.crm_writer.consumer import DealConsumer
from services.crm_writer.handler import EventHandler
from services.crm_writer.observer import CrmWriterObserver, NullObserver
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.retry_policy import RetryPolicy
from services.crm_writer.store import Store
from shared.topology import Topology


def deal_consumer(
    *,
    connection: AbstractRobustConnection,
    topology: Topology,
    store: Store,
    pipeline: DealPipeline,
    policy: RetryPolicy,
    prefetch: int = 8,
    observer: CrmWriterObserver | None = None,
) -> DealConsumer:
    """The consumer of ``topology``'s work queue, handling each event exactly once (`EventHandler`
    over ``store`` and ``pipeline``)."""
    return DealConsumer(
        connection=connection,
        topology=topology,
        handler=EventHandler(store, pipeline),
        policy=policy,
        prefetch=prefetch,
        observer=observer or NullObserver(),
    )
