"""Why a service cannot reach RabbitMQ (``AMQP_URL``), as one line an operator can act on: the
variable, the host and port (never a password), what to check. The network failures every URL
shares (`describe_unreachable`) serve the store's own words too
(`services.crm_writer.store.open_errors`).

The libraries' own messages name neither the variable nor the fix (``[Errno 111] Connect call
failed ('127.0.0.1', 5672)``, ``Expected one of ['Connection.OpenOk'], got <Connection.Close …>``)
and come with a traceback; these functions only read the exception and the URL.
"""

from __future__ import annotations

import errno
import socket

from aiormq.exceptions import (
    ConnectionClosed,
    InvalidFrameError,
    ProbableAuthenticationError,
)
from yarl import URL

from shared.logging import redact_text

AMQP_PORT = 5672
START_RABBITMQ = (
    "is RabbitMQ running? `rabbitmq-server -detached` (or `docker compose up -d rabbitmq`)"
)


def describe_broker_failure(amqp_url: str, exc: BaseException) -> str:
    """One line for a failed connection to ``amqp_url``, e.g. ``AMQP_URL: nothing listens on
    127.0.0.1:5672: is RabbitMQ running? `rabbitmq-server -detached` …``."""
    url = URL(amqp_url)
    default_port = 5671 if url.scheme == "amqps" else AMQP_PORT
    where = f"{url.host}:{url.port or default_port}"
    if isinstance(exc, ProbableAuthenticationError):
        return (
            f"AMQP_URL: RabbitMQ at {where} refused user {url.user or 'guest'!r}: "
            "check the user and password in AMQP_URL"
        )
    if isinstance(exc, InvalidFrameError | ConnectionClosed) and "Connection.Close" in str(exc):
        # The broker closes the handshake instead of opening the virtual host it was asked for.
        vhost = url.path[1:] or "/"
        return (
            f"AMQP_URL: RabbitMQ at {where} refused virtual host {vhost!r}: does it exist, and "
            f"may user {url.user or 'guest'!r} use it? (`rabbitmqctl list_vhosts`; the path of "
            "AMQP_URL names it, `/` being the default)"
        )
    return describe_unreachable("AMQP_URL", "RabbitMQ", url.host, where, exc, START_RABBITMQ)


def describe_unreachable(
    variable: str, server: str, host: str | None, where: str, exc: BaseException, hint: str
) -> str:
    """The network failures both URLs share: unknown host, nothing listening, no answer."""
    if _is_unknown_host(exc):
        return f"{variable}: cannot find host {host!r}: check the host name in {variable}"
    if _is_refused(exc):
        return f"{variable}: nothing listens on {where}: {hint}"
    if isinstance(exc, TimeoutError):
        return (
            f"{variable}: {where} does not answer: {hint}; or does a firewall drop the connection?"
        )
    return f"{variable}: cannot connect to {server} at {where} ({exception_reason(exc)}): {hint}"


def _is_unknown_host(exc: BaseException) -> bool:
    if isinstance(exc, socket.gaierror):
        return True
    # aiormq wraps the resolver's error in its own, keeping the (negative) getaddrinfo code.
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return code in (socket.EAI_NONAME, socket.EAI_AGAIN, getattr(socket, "EAI_NODATA", None))


def _is_refused(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionRefusedError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        return True
    # asyncpg tries every address of "localhost" and raises their errors as one OSError.
    return isinstance(exc, OSError) and f"[Errno {errno.ECONNREFUSED}]" in str(exc)


def exception_reason(exc: BaseException) -> str:
    return redact_text(str(exc) or type(exc).__name__)
