"""The way through the sandbox for a Clicksign API request: record it (never with the token),
check the token the way each API takes it, count it against the budget (every answer carries
``X-Rate-Limit``, ``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset``, as Clicksign's do),
inject faults, and turn errors into each API's answers. Other requests pass untouched."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from sandbox.clicksign_api.context import CLICKSIGN_SANDBOX_KEY, ClicksignSandbox
from sandbox.clicksign_api.errors import ClicksignApiError
from sandbox.clicksign_api.paths import is_clicksign_path, is_v3
from shared.logging import get_logger

log = get_logger()


@web.middleware
async def clicksign_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_clicksign_path(request.path):
        return await handler(request)
    sandbox = request.app[CLICKSIGN_SANDBOX_KEY]
    started = time.monotonic()
    query = {k: v for k, v in request.query.items() if k != "access_token"}
    record = sandbox.requests.start(
        request.method, request.path, query, datetime.now(UTC).isoformat(), None
    )
    token = _token(request)
    try:
        response = await _admitted(request, handler, sandbox, token)
    except ClicksignApiError as error:
        response = error.to_response()
    except web.HTTPException as exc:
        response = web.Response(status=exc.status, text=exc.text or "", content_type="text/plain")
    if token is not None and sandbox.accepts(token):
        _rate_headers(response, sandbox, token)
    record.status = response.status
    record.duration_ms = round((time.monotonic() - started) * 1000, 1)
    if sandbox.config.access_log:
        fields = {
            "method": request.method,
            "path": request.path,
            "query": query,
            "status": response.status,
            "duration_ms": record.duration_ms,
        }
        getattr(log, sandbox.config.access_log_level)("clicksign_sandbox.request", **fields)
    return response


async def _admitted(
    request: web.Request, handler: Handler, sandbox: ClicksignSandbox, token: str | None
) -> web.StreamResponse:
    v3 = is_v3(request.path)
    if not sandbox.accepts(token):
        # API 1.0 answers a bad token with 403, API 3.0 with 401 (recorded answers).
        raise ClicksignApiError(401 if v3 else 403, v3=v3)
    assert token is not None
    admission = sandbox.limiter.admit(token)
    if not admission.allowed:
        raise ClicksignApiError(429, v3=v3, retry_after_seconds=admission.retry_after_seconds or 1)
    rule = sandbox.faults.take_failure(request.path)
    if rule is not None:
        raise ClicksignApiError(rule.status, v3=v3, retry_after_seconds=rule.retry_after_seconds)
    return await handler(request)


def _token(request: web.Request) -> str | None:
    """API 1.0: ``?access_token=``; API 3.0: the bare ``Authorization`` header (``Bearer`` is
    refused, as by Clicksign) or ``?access_token=`` (Clicksign's own browser test)."""
    if is_v3(request.path):
        header = request.headers.get("Authorization")
        if header is not None:
            return None if header.lower().startswith("bearer ") else header
    return request.query.get("access_token")


def _rate_headers(response: web.StreamResponse, sandbox: ClicksignSandbox, token: str) -> None:
    limiter = sandbox.limiter
    if limiter.limit is None:
        return
    # A 429 already says when its budget resets.
    remaining = str(max(limiter.limit - limiter.used(token), 0))
    response.headers.setdefault("X-Rate-Limit", str(limiter.limit))
    response.headers.setdefault("X-Rate-Limit-Remaining", remaining)
    response.headers.setdefault(
        "X-Rate-Limit-Reset", str(int(time.time() + limiter.window_seconds))
    )
