"""The way through the sandbox for an ``/api/v1`` request, outermost first:
record it, map errors, add latency, check the token, count it against the rate limit, inject
faults. The control API (``/__sandbox/``) and Clicksign's API (``/api/v1/documents``,
``/api/v1/accounts``, ``/api/v3``: `sandbox.clicksign_api`) skip all of it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sandbox.clicksign_api.paths import is_clicksign_path
from sandbox.rdstation.context import (
    ARRIVED_KEY,
    RECORD_KEY,
    SANDBOX_KEY,
    TOKEN_KEY,
    USER_KEY,
    Sandbox,
)
from sandbox.rdstation.errors import (
    ApiError,
    RateLimited,
    TechnicalProblems,
    Unauthorized,
    error_for_status,
)
from sandbox.rdstation.faults import API_PREFIX, FailureRule
from sandbox.rdstation.ids import rd_timestamp, utc_now
from sandbox.requestlog import without_token
from shared.logging import get_logger

log = get_logger()
_MAX_LOGGED_TEXT = 2000


def api_only(middleware: Middleware) -> Middleware:
    @web.middleware
    async def only_for_api(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/") or is_clicksign_path(request.path):
            return await handler(request)
        return await middleware(request, handler)

    return only_for_api


@api_only
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    sandbox = request.app[SANDBOX_KEY]
    request[ARRIVED_KEY] = started = time.monotonic()
    query = without_token(request.query)
    record = sandbox.requests.start(
        request.method, request.path, query, rd_timestamp(utc_now()), await _body(request)
    )
    request[RECORD_KEY] = record
    try:
        response = await handler(request)
        record.status = response.status
        return response
    except web.HTTPException as exc:
        record.status = exc.status
        raise
    finally:
        record.duration_ms = round((time.monotonic() - started) * 1000, 1)
        if sandbox.config.access_log:
            fields = {
                "method": record.method,
                "path": record.path,
                "query": query,
                "status": record.status,
                "duration_ms": record.duration_ms,
                "fault": record.fault,
            }
            getattr(log, sandbox.config.access_log_level)("rd_sandbox.request", **fields)


@api_only
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error.to_response()
    except web.HTTPException:
        raise
    except Exception:
        log.exception("rd_sandbox.handler_failed", method=request.method, path=request.path)
        return TechnicalProblems("sandbox bug").to_response()


@api_only
async def apply_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
    latency_ms = request.app[SANDBOX_KEY].faults.latency_ms
    if latency_ms:
        await asyncio.sleep(latency_ms / 1000)
    return await handler(request)


@api_only
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.query.get("token")
    user = request.app[SANDBOX_KEY].user_for_token(token)
    if token is None or user is None:
        raise Unauthorized("missing or unknown token")
    request[TOKEN_KEY], request[USER_KEY] = token, user
    return await handler(request)


@api_only
async def limit_rate(request: web.Request, handler: Handler) -> web.StreamResponse:
    limiter = request.app[SANDBOX_KEY].limiter
    admission = limiter.admit(request[TOKEN_KEY], request[ARRIVED_KEY])
    if not admission.allowed:
        raise RateLimited(admission.retry_after_seconds)
    return await handler(request)


@api_only
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    sandbox = request.app[SANDBOX_KEY]
    rule = sandbox.faults.take_failure(request.method, request.path)
    if rule is None:
        return await handler(request)
    request[RECORD_KEY].fault = rule.kind
    return await _answer_with_fault(rule, request, handler, sandbox)


async def _answer_with_fault(
    rule: FailureRule, request: web.Request, handler: Handler, sandbox: Sandbox
) -> web.StreamResponse:
    if rule.hang_seconds is not None:
        if rule.completes:
            # RD commits the change, then the answer is lost: the crash window of a create.
            response = await handler(request)
            await sandbox.faults.hang(rule.hang_seconds)
            return response
        await sandbox.faults.hang(rule.hang_seconds)
        raise error_for_status(rule.status, rule.message)
    if rule.completes:
        # The change is made, the client still sees the failure: the case retries must survive.
        with contextlib.suppress(ApiError):
            await handler(request)
    raise error_for_status(rule.status, rule.message, rule.retry_after_seconds)


async def _body(request: web.Request) -> Any:
    if not request.body_exists:
        return None
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:_MAX_LOGGED_TEXT].decode("utf-8", "replace")


API_MIDDLEWARES = (
    record_requests,
    answer_errors,
    apply_latency,
    authenticate,
    limit_rate,
    inject_faults,
)
