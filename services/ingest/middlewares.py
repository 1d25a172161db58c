"""Request id / correlation id, the access log (through structlog, without query strings) and the
trace's server span."""

from __future__ import annotations

import re
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from services.ingest.keys import (
    CORRELATION_ID,
    OBSERVER,
    REQUEST_STARTED,
    WEBHOOK_OUTCOME,
)
from shared import tracing
from shared.events import new_correlation_id
from shared.logging import get_logger

REQUEST_ID_HEADER = "X-Request-ID"
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
# Routes not worth a trace: probes and scrapes every few seconds.
UNTRACED_ROUTES = frozenset({"healthz", "readyz", "metrics"})
# Printable ASCII without spaces, bounded: anything else is replaced rather than logged.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")

log = get_logger()


def correlation_id_for(request: web.Request) -> str:
    """The caller's ``X-Request-ID`` when it is sane, else a fresh id."""
    candidate = request.headers.get(REQUEST_ID_HEADER, "").strip()
    return candidate if _ACCEPTABLE_REQUEST_ID.fullmatch(candidate) else new_correlation_id()


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The SERVER span (``POST /webhooks/clicksign``) that starts an event's trace; outermost, so
    every line of the request carries its ``trace_id``. Does nothing while tracing is off."""
    route = request.match_info.route
    if not tracing.enabled() or route.resource is None or route.name in UNTRACED_ROUTES:
        return await handler(request)
    with tracing.server_span(request.method, route.resource.canonical, request.path) as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            tracing.record_http_status(span, exc.status, error_from=500)
            raise
        tracing.record_http_status(span, response.status, error_from=500)
        return response


@web.middleware
async def correlation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the correlation id to every log line of the request and echo it on the answer."""
    correlation_id = correlation_id_for(request)
    request[CORRELATION_ID] = correlation_id
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[REQUEST_ID_HEADER] = correlation_id
            raise
    response.headers[REQUEST_ID_HEADER] = correlation_id
    return response


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One ``http.request`` line per answer; unexpected errors become a logged JSON 500."""
    started = time.perf_counter()
    request[REQUEST_STARTED] = started
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception:
        log.exception("http.unhandled_error", method=request.method, path=request.path)
        return web.json_response({"error": "internal error"}, status=500)
    finally:
        _log_access(request, status, time.perf_counter() - started)


def _log_access(request: web.Request, status: int, seconds: float) -> None:
    outcome = request.get(WEBHOOK_OUTCOME)
    # Orchestrator probes hit every few seconds: a healthy answer is not worth an INFO line. A
    # webhook's answer is already in the view's own line (`event.published`, `webhook.rejected`,
    # …, with `status` and `duration_ms`): at INFO, one line per webhook is enough.
    quiet = (request.path in PROBE_PATHS and status < 400) or (outcome is not None and status < 500)
    (log.debug if quiet else log.info)(
        "http.request",
        method=request.method,
        path=request.path,
        status=status,
        duration_ms=round(seconds * 1000, 2),
        remote=request.remote,
        **({"outcome": str(outcome)} if outcome is not None else {}),
    )
    request.app[OBSERVER].request_served(request.method, _route_of(request), status, seconds)


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
