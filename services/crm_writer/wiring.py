"""How crm_writer's parts are put together, for the service, the CLI and the tests alike.

Whatever builds the consumer, its retry policy, the deal settings, the API clients and their
rate limiters for the service builds them for ``signdeal`` and for the test harnesses too, so
that the copies cannot drift.
"""

from __future__ import annotations

import aiohttp
from aio_pika.abc import AbstractRobustConnection

from services.crm_writer.clicksign import ClicksignClient, ClicksignRateLimiter
from services.crm_writer.clicksign.ratelimit import PERIOD_SECONDS as CLICKSIGN_PERIOD_SECONDS
from services.crm_writer.clicksign.ratelimit import account_limit
from services.crm_writer.consumer import DealConsumer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.handler import EventHandler
from services.crm_writer.observer import CrmWriterObserver, NullObserver, RdObserver
from services.crm_writer.pacing import RequestPacer
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient
from services.crm_writer.rdstation.resources import first_stage_id
from services.crm_writer.retry_policy import RetryPolicy
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.shared_budget import SharedRequestPacer, budget_key
from services.crm_writer.store import Store
from services.crm_writer.store.postgres import PostgresStore
from services.crm_writer.templates import TitleTemplate
from shared.topology import Topology


def deal_settings(settings: CrmWriterSettings, stage_id: str) -> DealSettings:
    """Where and how deals are made: ``stage_id`` (`entry_stage`) and the rest of the settings."""
    return DealSettings(
        stage_id=stage_id,
        title=TitleTemplate(settings.deal_title_template),
        owner_id=settings.rdstation_deal_owner_id,
        document_key_field_id=settings.rdstation_document_key_field_id,
        mapping=settings.mapping_file(),
    )


async def entry_stage(settings: CrmWriterSettings, rd: RdStationClient) -> str | None:
    """The stage new deals enter: ``RDSTATION_DEAL_STAGE_ID``, or in the sandbox (no token, no
    stage) the first stage of its first pipeline that has stages; None when there is none."""
    if settings.rdstation_deal_stage_id:
        return settings.rdstation_deal_stage_id
    return first_stage_id(await rd.list_pipelines())


def deal_consumer(
    *,
    connection: AbstractRobustConnection,
    topology: Topology,
    store: Store,
    pipeline: DealPipeline,
    max_attempts: int,
    max_age_seconds: float,
    prefetch: int = 8,
    observer: CrmWriterObserver | None = None,
) -> DealConsumer:
    """The consumer of ``topology``'s work queue: each event handled exactly once
    (`EventHandler` over ``store`` and ``pipeline``), failures retried through the topology's
    own retry tiers within ``max_attempts`` and ``max_age_seconds``."""
    return DealConsumer(
        connection=connection,
        topology=topology,
        handler=EventHandler(store, pipeline),
        policy=RetryPolicy(
            delays=topology.retry_delays_seconds,
            max_attempts=max_attempts,
            max_age_seconds=max_age_seconds,
        ),
        prefetch=prefetch,
        observer=observer or NullObserver(),
    )


def service_consumer(
    settings: CrmWriterSettings,
    connection: AbstractRobustConnection,
    store: Store,
    pipeline: DealPipeline,
    observer: CrmWriterObserver,
) -> DealConsumer:
    """crm_writer's consumer, as its settings describe it."""
    return deal_consumer(
        connection=connection,
        topology=settings.topology(),
        store=store,
        pipeline=pipeline,
        max_attempts=settings.crm_writer_max_attempts,
        max_age_seconds=settings.crm_writer_max_retry_age_seconds,
        prefetch=settings.crm_writer_prefetch,
        observer=observer,
    )


def rd_rate_limiter(settings: CrmWriterSettings, store: Store | None) -> RequestPacer:
    """With PostgreSQL, one RD budget in the store for every replica; with SQLite (one process)
    or no store (the CLI), this process's own."""
    per_minute = settings.rdstation_rate_limit_per_minute
    if isinstance(store, PostgresStore):
        key = budget_key("rd", settings.rd_token)
        return SharedRequestPacer(per_minute, 60.0, store, key, api="RD Station")
    return RdRateLimiter(per_minute)


def clicksign_rate_limiter(
    settings: CrmWriterSettings, store: Store | None, token: str
) -> RequestPacer:
    """Clicksign's budget belongs to the account: shared like RD's with PostgreSQL."""
    base_url = settings.clicksign_api_base_url
    if isinstance(store, PostgresStore):
        key = budget_key("clicksign", token)
        limit, period = account_limit(base_url), CLICKSIGN_PERIOD_SECONDS
        return SharedRequestPacer(limit, period, store, key, api="Clicksign")
    return ClicksignRateLimiter(base_url)


def rd_client(
    session: aiohttp.ClientSession,
    settings: CrmWriterSettings,
    limiter: RequestPacer,
    observer: RdObserver | None = None,
) -> RdStationClient:
    """RD Station CRM (or the sandbox, without a token) as the settings name it."""
    return RdStationClient(
        session,
        settings.rd_base_url,
        settings.rd_token,
        limiter,
        timeout_seconds=settings.rdstation_timeout_seconds,
        observer=observer or NullObserver(),
    )


def clicksign_client(
    session: aiohttp.ClientSession,
    settings: CrmWriterSettings,
    token: str,
    limiter: RequestPacer,
) -> ClicksignClient:
    """Clicksign's API as the settings name it, with ``token`` (``CLICKSIGN_ACCESS_TOKEN``)."""
    return ClicksignClient(session, settings.clicksign_api_base_url, token, limiter)
