"""``python -m services.crm_writer``: consume events and write deals until SIGTERM."""

from __future__ import annotations

import sys

from aiohttp import web

from services.crm_writer.app import create_app
from services.crm_writer.keys import RUNTIME
from services.crm_writer.settings import CrmWriterSettings
from shared.eventloop import EventLoopUnavailable, loop_name, new_event_loop
from shared.http_server import server_options
from shared.logging import configure_logging, get_logger
from shared.settings import (
    EXIT_BAD_CONFIGURATION,
    EXIT_FATAL,
    EXIT_OK,
    ConfigurationError,
    load_settings,
)
from shared.tracing import setup_tracing, shutdown_tracing

SERVICE = "crm_writer"
# Idle connections to the history API/page and slow clients are closed after this.
CRM_WRITER_KEEPALIVE_SECONDS = 5.0


def main() -> int:
    try:
        settings = load_settings(CrmWriterSettings)
        loop = new_event_loop(settings.event_loop)
    except (ConfigurationError, EventLoopUnavailable) as exc:
        print(f"{SERVICE}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIGURATION
    settings.register_secrets()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    setup_tracing(SERVICE)
    log = get_logger()
    app = create_app(settings)
    log.info(
        "service.starting",
        port=settings.crm_writer_port,
        store=settings.store_url.split(":", 1)[0],
        sandbox=settings.uses_sandbox,
        event_loop=loop_name(loop),
        history_access="token" if settings.api_token else "loopback only",
        history_retention_days=settings.history_retention_days,
    )
    web.run_app(
        app,
        host=settings.crm_writer_host,
        port=settings.crm_writer_port,
        shutdown_timeout=settings.crm_writer_shutdown_timeout_seconds,
        access_log=None,
        print=None,
        handle_signals=True,
        loop=loop,
        **server_options(CRM_WRITER_KEEPALIVE_SECONDS),
    )
    shutdown_tracing()
    fatal = app[RUNTIME].fatal
    log.info("service.stopped", fatal=fatal)
    return EXIT_FATAL if fatal else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
