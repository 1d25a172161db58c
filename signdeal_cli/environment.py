"""The command's view of the services' configuration: the same variables, the same classes.

Settings are read with the services' own classes, so a variable the CLI accepts is one the
services accept; only ``send-test`` needs ``CLICKSIGN_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import aiohttp
import structlog
from pydantic import model_validator
from yarl import URL

from services.crm_writer import wiring
from services.crm_writer.clicksign import ClicksignClient
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.settings import CrmWriterSettings
from services.ingest.settings import IngestSettings
from shared.logging import add_service, redact_secrets
from shared.settings import ConfigurationError, load_settings
from signdeal_cli.console import EXIT_USAGE, CliError

_BROKER_LOGGERS = ("aio_pika", "aiormq")


@contextmanager
def quiet_logging() -> Iterator[None]:
    """The services' log lines are for SREs: here only warnings, on stderr, never on stdout.

    The broker client's own complaints are silenced while a command runs: the command reports
    an unreachable broker itself, in one line.
    """
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            add_service("signdeal"),
            redact_secrets,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger("WARNING"),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    loggers = [logging.getLogger(name) for name in _BROKER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class LookupSettings(CrmWriterSettings):
    """crm_writer's settings for looking ids up: the stage may still be unknown (that is what
    the operator is looking for)."""

    @model_validator(mode="after")
    def _stage_required_with_token(self) -> LookupSettings:
        return self


def crm_writer_settings(*, stage_required: bool = True) -> CrmWriterSettings:
    """crm_writer's configuration from the environment; exit 2 with one line if it is wrong."""
    try:
        settings = load_settings(CrmWriterSettings if stage_required else LookupSettings)
    except ConfigurationError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    settings.register_secrets()
    return settings


def ingest_settings() -> IngestSettings:
    """ingest's configuration (which requires ``CLICKSIGN_WEBHOOK_SECRET``)."""
    try:
        settings = load_settings(IngestSettings)
    except ConfigurationError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    settings.register_secrets()
    return settings


@asynccontextmanager
async def rd_client(settings: CrmWriterSettings) -> AsyncIterator[RdStationClient]:
    """An RD Station client paced like crm_writer: the token's budget is shared with it."""
    async with aiohttp.ClientSession() as session:
        yield wiring.rd_client(session, settings, wiring.rd_rate_limiter(settings, None))


@asynccontextmanager
async def clicksign_client(
    settings: CrmWriterSettings, token: str
) -> AsyncIterator[ClicksignClient]:
    """A Clicksign API client paced like crm_writer's (the account's budget is shared)."""
    limiter = wiring.clicksign_rate_limiter(settings, None, token)
    async with aiohttp.ClientSession() as session:
        yield wiring.clicksign_client(session, settings, token, limiter)


def display_url(url: str) -> str:
    """A broker or store URL fit to print: the user stays, the password does not."""
    parsed = URL(url)
    return str(parsed.with_password("****")) if parsed.password else url


def sandbox_warning(settings: CrmWriterSettings) -> str | None:
    """The loud line every RD-facing command prints when no real account is configured."""
    if not settings.uses_sandbox:
        return None
    return (
        "SANDBOX MODE: RDSTATION_CRM_TOKEN is not set, so this talks to the bundled RD Station "
        f"sandbox at {settings.rd_base_url}, not to a real RD Station CRM account."
    )
