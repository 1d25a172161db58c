"""crm_writer's application: the consumer plus a small HTTP side (health, readiness, history).

Resources live in `cleanup_ctx` generators, in order: the store, the history retention task, the
RD Station client, the Clicksign API client (only with a token), the broker connection with the
consumer, then the backlog probe behind ``/metrics``. The broker and RD may be down when the
process starts: the consumer keeps trying in the background and ``/readyz`` says 503 until it
runs. Every route except the probes and
``/metrics`` is behind the history's access rule (`services.crm_writer.access`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NoReturn, TypeVar

import aio_pika
import aiohttp
from aiohttp import web

from services.crm_writer import views, wiring
from services.crm_writer.access import HISTORY_ACCESS, HistoryAccess, history_access_middleware
from services.crm_writer.backlog import BacklogProbe
from services.crm_writer.keys import (
    CLICKSIGN_CLIENT,
    OBSERVER,
    RD_CLIENT,
    RUNTIME,
    SETTINGS,
    STORE,
    Runtime,
)
from services.crm_writer.metrics import PrometheusCrmWriterObserver
from services.crm_writer.page import setup_history_page
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import (
    RdStationClient,
    RdStationError,
    RdStationForbidden,
    RdStationNotFound,
    RdStationUnauthorized,
)
from services.crm_writer.retention import HistoryRetention
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.shared_budget import SharedRequestPacer
from services.crm_writer.store import StoreError, open_store
from services.crm_writer.store.open_errors import describe_store_failure
from shared.amqp import with_heartbeat
from shared.connection_errors import describe_broker_failure
from shared.http_server import hide_server_banner
from shared.logging import get_logger
from shared.metrics import add_metrics_route, new_registry
from shared.topology import TopologyMismatch

log = get_logger()

RECONNECT_DELAY_SECONDS = 2.0
TOPOLOGY_RETRY_SECONDS = 15.0
T = TypeVar("T")


class StartupError(Exception):
    """Something an operator must fix before crm_writer can work (bad token, unknown stage)."""


def create_app(settings: CrmWriterSettings) -> web.Application:
    """Build the app; tests hand the same factory to aiohttp's test client."""
    app = web.Application(middlewares=[history_access_middleware])
    app[SETTINGS] = settings
    app[RUNTIME] = Runtime()
    app[HISTORY_ACCESS] = HistoryAccess(settings.api_token)
    registry = new_registry()
    app[OBSERVER] = PrometheusCrmWriterObserver(registry)
    hide_server_banner(app)
    app.cleanup_ctx.extend(
        [
            _store_ctx,
            _retention_ctx,
            _rd_client_ctx,
            _clicksign_client_ctx,
            _consumer_ctx,
            _backlog_ctx,
        ]
    )
    app.on_shutdown.append(_announce_stopping)
    views.setup_routes(app)
    setup_history_page(app)
    add_metrics_route(app, registry)
    return app


async def _announce_stopping(app: web.Application) -> None:
    log.info("service.stopping", drain_seconds=app[SETTINGS].crm_writer_shutdown_timeout_seconds)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store_url = app[SETTINGS].store_url
    store = open_store(store_url)
    try:
        await store.open()
    except StoreError as exc:
        await store.close()
        # One line naming STORE_URL and the fix, then a clean exit (1), not a traceback.
        _fail_at_startup(app, describe_store_failure(store_url, exc))
    app[STORE] = store
    log.info("store.opened", backend=type(store).__name__)
    yield
    await store.close()


def _fail_at_startup(app: web.Application, reason: str) -> NoReturn:
    """Stop start-up with ``reason`` as the one line an operator reads (``service.fatal``)."""
    app[RUNTIME].fatal = reason
    log.error("service.fatal", error=reason)
    raise web.GracefulExit


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    retention = HistoryRetention(
        store=app[STORE], days=app[SETTINGS].history_retention_days, observer=app[OBSERVER]
    )
    task = asyncio.create_task(retention.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _rd_client_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.uses_sandbox:
        log.warning(
            "rd.sandbox_mode",
            message="RDSTATION_CRM_TOKEN is not set: deals go to the bundled RD Station SANDBOX, "
            "not to a real RD Station CRM account",
            sandbox_url=settings.rd_base_url,
        )
    if settings.crm_writer_replicas is not None:
        log.warning(
            "config.deprecated",
            variable="CRM_WRITER_REPLICAS",
            message="CRM_WRITER_REPLICAS is ignored and will be removed: remove it (with "
            "PostgreSQL every replica draws from one RD budget kept in the store)",
        )
    limiter = wiring.rd_rate_limiter(settings, app[STORE])
    log.info(
        "rd.rate_limit",
        per_minute=settings.rdstation_rate_limit_per_minute,
        budget="shared" if isinstance(limiter, SharedRequestPacer) else "process",
    )
    async with aiohttp.ClientSession() as session:
        app[RD_CLIENT] = wiring.rd_client(session, settings, limiter, app[OBSERVER])
        yield
    await limiter.settle()


async def _clicksign_client_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    token = settings.clicksign_token
    if token is None:
        log.warning(
            "clicksign.enrichment_disabled",
            message="CLICKSIGN_ACCESS_TOKEN is not set: thin webhooks (a finalisation without "
            "signers, no file name) will not be completed from Clicksign's API",
        )
        app[CLICKSIGN_CLIENT] = None
        yield
        return
    limiter = wiring.clicksign_rate_limiter(settings, app[STORE], token)
    async with aiohttp.ClientSession() as session:
        app[CLICKSIGN_CLIENT] = wiring.clicksign_client(session, settings, token, limiter)
        log.info("clicksign.enrichment_enabled", base_url=settings.clicksign_api_base_url)
        yield


async def _consumer_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    task = asyncio.create_task(_run_consumer(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if runtime.consumer is not None:
        await runtime.consumer.stop(app[SETTINGS].crm_writer_shutdown_timeout_seconds)
    if runtime.connection is not None:
        await runtime.connection.close()
    log.info("broker.closed")


async def _backlog_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    probe = BacklogProbe(
        topology=app[SETTINGS].topology(),
        store=app[STORE],
        observer=app[OBSERVER],
        connection=lambda: runtime.connection,
    )
    task = asyncio.create_task(probe.run(app[SETTINGS].crm_writer_backlog_poll_seconds))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await probe.close()


async def _run_consumer(app: web.Application) -> None:
    settings, runtime = app[SETTINGS], app[RUNTIME]
    try:
        stage_id = await _until_reachable(
            "rd.unreachable",
            lambda: check_rd_configuration(app),
            describe=lambda exc: describe_rd_failure(settings, exc),
        )
        runtime.deal_settings = deals = wiring.deal_settings(settings, stage_id)
        runtime.connection = await _until_reachable(
            "broker.unreachable",
            lambda: aio_pika.connect_robust(with_heartbeat(settings.amqp_url)),
            describe=lambda exc: describe_broker_failure(settings.amqp_url, exc),
        )
        pipeline = DealPipeline(
            app[STORE],
            app[RD_CLIENT],
            deals,
            clicksign=app[CLICKSIGN_CLIENT],
        )
        consumer = wiring.service_consumer(
            settings, runtime.connection, app[STORE], pipeline, app[OBSERVER]
        )
        await _until_reachable(
            "broker.unreachable",
            consumer.start,
            describe=lambda exc: describe_broker_failure(settings.amqp_url, exc),
        )
        runtime.consumer = consumer
        log.info("service.ready", stage_id=stage_id)
    except StartupError as exc:
        runtime.fatal = str(exc)
        log.error("service.fatal", error=str(exc))
        os.kill(os.getpid(), signal.SIGTERM)


async def _until_reachable(
    log_event: str,
    attempt: Callable[[], Awaitable[T]],
    describe: Callable[[BaseException], str] = lambda exc: str(exc) or type(exc).__name__,
) -> T:
    """Retry ``attempt`` until it succeeds, logging ``log_event`` with ``describe(error)`` each
    time it fails; StartupError is not retried."""
    while True:
        try:
            return await attempt()
        except StartupError:
            raise
        except TopologyMismatch as exc:
            # Not ready until an operator fixes the broker; then it recovers by itself.
            log.error("broker.topology_mismatch", error=str(exc))
            await asyncio.sleep(TOPOLOGY_RETRY_SECONDS)
        except (OSError, aio_pika.exceptions.AMQPError, RdStationError, TimeoutError) as exc:
            log.warning(log_event, error=describe(exc))
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)


def describe_rd_failure(settings: CrmWriterSettings, error: BaseException) -> str:
    """One line naming the variable that points at RD and what to check."""
    variable = "RDSTATION_SANDBOX_URL" if settings.uses_sandbox else "RDSTATION_CRM_BASE_URL"
    where = "the RD sandbox (`make run` starts it)" if settings.uses_sandbox else "RD Station"
    reason = str(error) or type(error).__name__
    return (
        f"{where} at {settings.rd_base_url} ({variable}): {reason}; "
        f"check {variable} and that the host is reachable; retrying"
    )


async def check_rd_configuration(app: web.Application) -> str:
    """Check the token and the stage at start-up; returns the stage new deals enter."""
    settings, rd = app[SETTINGS], app[RD_CLIENT]
    try:
        whoami = await rd.check_token()
        stage_id = await wiring.entry_stage(settings, rd)
        if stage_id is None:
            raise StartupError("the RD sandbox has no pipeline with stages")
        stages = {"RDSTATION_DEAL_STAGE_ID": stage_id}
        mapping = settings.mapping_file()
        if mapping is not None:
            stages |= {
                f"{settings.signdeal_config}: {key}": value
                for key, value in mapping.stage_ids().items()
            }
        for where, stage in stages.items():
            await _check_stage(rd, where, stage)
    except (RdStationUnauthorized, RdStationForbidden) as exc:
        raise StartupError(f"RDSTATION_CRM_TOKEN was refused by RD Station: {exc}") from None
    log.info("rd.connected", rd_user=whoami.get("email"), stage_id=stage_id)
    return stage_id


async def _check_stage(rd: RdStationClient, where: str, stage_id: str) -> None:
    try:
        await rd.get_stage(stage_id)
    except RdStationNotFound:
        raise StartupError(
            f"{where}: {stage_id} is not a stage of this RD Station account "
            "(`signdeal rd stages` lists them)"
        ) from None
