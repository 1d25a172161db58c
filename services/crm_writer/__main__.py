"""``python -m services.crm_writer``: consume events and write deals until SIGTERM."""

from __future__ import annotations

import sys

from aiohttp import web
from yarl import URL

from services.crm_writer.app import create_app
from services.crm_writer.keys import RUNTIME
from services.crm_writer.settings import CrmWriterSettings
from shared.eventloop import EventLoopUnavailable, loop_name, new_event_loop
from shared.http_server import server_options
from shared.logging import configure_logging, get_logger, register_secret
from shared.settings import ConfigurationError, load_settings
from shared.tracing import setup_tracing, shutdown_tracing

# Idle connections to the history API/page and slow clients are closed after this.
CRM_WRITER_KEEPALIVE_SECONDS = 5.0


def main() -> int:
    try:
        settings = load_settings(CrmWriterSettings)
        loop = new_event_loop(settings.event_loop)
    except (ConfigurationError, EventLoopUnavailable) as exc:
        print(f"crm_writer: {exc}", file=sys.stderr)
        return 2
    configure_logging("crm_writer", settings.log_level, settings.log_format)
    if settings.rdstation_crm_token is not None:
        register_secret(settings.rdstation_crm_token.get_secret_value())
    register_secret(settings.clicksign_token)
    register_secret(settings.api_token)
    register_secret(URL(settings.amqp_url).password)
    register_secret(URL(settings.store_url).password)
    setup_tracing("crm_writer")
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
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
