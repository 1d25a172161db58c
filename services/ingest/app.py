"""The ingest application factory; tests hand the same factory to aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.ingest.body import BodyGate
from services.ingest.broker import BrokerLink
from services.ingest.keys import (
    BODY_GATE,
    BROKER,
    OBSERVER,
    PUBLISHER,
    SETTINGS,
)
from services.ingest.metrics import PrometheusIngestObserver
from services.ingest.middlewares import (
    access_log_middleware,
    correlation_middleware,
    tracing_middleware,
)
from services.ingest.publisher import EventPublisher
from services.ingest.routes import setup_routes
from services.ingest.settings import IngestSettings
from shared.http_server import hide_server_banner
from shared.logging import get_logger
from shared.metrics import add_metrics_route, new_registry
from shared.topology import Topology

log = get_logger()


def create_app(settings: IngestSettings, *, topology: Topology | None = None) -> web.Application:
    """Build the app; ``topology`` overrides the settings' (tests use unique names)."""
    app = web.Application(
        middlewares=[tracing_middleware, correlation_middleware, access_log_middleware],
        client_max_size=settings.ingest_max_body_bytes,
    )
    app[SETTINGS] = settings
    app[BODY_GATE] = BodyGate(
        settings.ingest_max_concurrent_bodies, settings.ingest_body_timeout_seconds
    )
    hide_server_banner(app)
    registry = new_registry()
    app[OBSERVER] = PrometheusIngestObserver(registry)
    broker = BrokerLink(settings.amqp_url, topology or settings.topology())
    app[BROKER] = broker
    app[PUBLISHER] = EventPublisher(broker, timeout_seconds=settings.ingest_publish_timeout_seconds)
    setup_routes(app)
    add_metrics_route(app, registry)
    app.cleanup_ctx.append(broker_connection)
    app.on_shutdown.append(_announce_stopping)
    return app


async def broker_connection(app: web.Application) -> AsyncIterator[None]:
    """Connect in the background (the broker may be down at boot); close after the last handler.

    Closing here rather than in ``on_shutdown`` lets in-flight webhooks still get their confirm.
    """
    broker = app[BROKER]
    broker.start()
    yield
    await broker.close()


async def _announce_stopping(app: web.Application) -> None:
    log.info("service.stopping", shutdown_timeout=app[SETTINGS].ingest_shutdown_timeout_seconds)
