"""``/__sandbox/clicksign/``: register documents, arm faults, read the request log. No token."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from sandbox.clicksign_api.context import CLICKSIGN_SANDBOX_KEY, ClicksignSandbox
from sandbox.clicksign_api.faults import FAULT_STATUSES
from sandbox.clicksign_api.state import API_1, SandboxDocument
from shared.logging import get_logger

CONTROL_PREFIX = "/__sandbox/clicksign"
log = get_logger()


class RegisterBody(BaseModel):
    """A document as the webhooks draw it, and the APIs that know it."""

    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any]
    apis: list[str] = Field(default_factory=lambda: [API_1])
    envelope_name: str | None = None


class FailNextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: PositiveInt = 1
    status: int = 500
    path_prefix: str | None = None
    retry_after_seconds: PositiveInt = 10


def _sandbox(request: web.Request) -> ClicksignSandbox:
    return request.app[CLICKSIGN_SANDBOX_KEY]


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _refused(details: object) -> web.HTTPBadRequest:
    body = orjson.dumps({"error": "invalid control request", "details": details}).decode()
    return web.HTTPBadRequest(text=body, content_type="application/json")


def _described(stored: SandboxDocument) -> dict[str, Any]:
    return {
        "key": stored.key,
        "apis": sorted(stored.apis),
        "envelope_id": stored.envelope_id,
        "envelope_name": stored.envelope_name,
    }


async def register_document(request: web.Request) -> web.Response:
    try:
        body = RegisterBody.model_validate(orjson.loads(await request.read() or b"{}"))
        if not isinstance(body.document.get("key"), str):
            raise _refused("document.key is required")
        stored = _sandbox(request).state.register(
            body.document, apis=body.apis, envelope_name=body.envelope_name
        )
    except orjson.JSONDecodeError:
        raise _refused("the body must be JSON") from None
    except ValidationError as exc:
        raise _refused(exc.errors(include_url=False, include_context=False)) from None
    except ValueError as exc:
        raise _refused(str(exc)) from None
    log.info("clicksign_sandbox.document_registered", **_described(stored))
    return _json(_described(stored), status=201)


async def list_documents(request: web.Request) -> web.Response:
    return _json({"documents": [_described(d) for d in _sandbox(request).state.documents]})


async def get_requests(request: web.Request) -> web.Response:
    records = _sandbox(request).requests.matching(None, request.query.get("path_prefix"))
    return _json({"requests": [record.as_json() for record in records]})


async def fail_next(request: web.Request) -> web.Response:
    try:
        body = FailNextBody.model_validate(orjson.loads(await request.read() or b"{}"))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise _refused(str(exc)) from None
    if body.status not in FAULT_STATUSES:
        raise _refused(f"status must be one of {sorted(FAULT_STATUSES)}")
    faults = _sandbox(request).faults
    faults.fail_next(
        body.count,
        body.status,
        path_prefix=body.path_prefix,
        retry_after_seconds=body.retry_after_seconds,
    )
    log.info("clicksign_sandbox.faults", faults=faults.snapshot())
    return _json(faults.snapshot())


async def clear_faults(request: web.Request) -> web.Response:
    faults = _sandbox(request).faults
    faults.reset()
    log.info("clicksign_sandbox.faults", faults=faults.snapshot())
    return _json(faults.snapshot())


async def reset(request: web.Request) -> web.Response:
    _sandbox(request).reset()
    log.info("clicksign_sandbox.reset")
    return _json({"reset": True})


def control_routes() -> list[web.RouteDef]:
    p = CONTROL_PREFIX
    return [
        web.post(f"{p}/documents", register_document),
        web.get(f"{p}/documents", list_documents),
        web.get(f"{p}/requests", get_requests),
        web.post(f"{p}/faults/fail_next", fail_next),
        web.delete(f"{p}/faults", clear_faults),
        web.post(f"{p}/reset", reset),
    ]
