"""Clicksign's API as the sandbox plays it, for the documents registered in its state:
API 1.0 ``/api/v1/documents/{key}`` and ``/api/v1/accounts``; API 3.0 ``/api/v3/envelopes``
(filtered by ``filter[name]``, ``filter[modified]``), one envelope, its document, its signers."""

from __future__ import annotations

from datetime import datetime

import orjson
from aiohttp import web

from sandbox.clicksign_api.context import CLICKSIGN_SANDBOX_KEY
from sandbox.clicksign_api.errors import ClicksignApiError
from sandbox.clicksign_api.state import (
    SandboxDocument,
    list_answer,
    render_envelope,
    render_v3_document,
    render_v3_signers,
)
from shared.events import parse_timestamp

ACCOUNT_NAME = "Conta sandbox signdeal"


def _json(data: object) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def get_account(request: web.Request) -> web.Response:
    return _json({"account": {"name": ACCOUNT_NAME, "admins": [{"email": "admin@example.com"}]}})


async def get_document_v1(request: web.Request) -> web.Response:
    found = request.app[CLICKSIGN_SANDBOX_KEY].state.v1_document(request.match_info["key"])
    if found is None:
        raise ClicksignApiError(404, v3=False)
    return _json(found)


async def list_envelopes(request: web.Request) -> web.Response:
    state = request.app[CLICKSIGN_SANDBOX_KEY].state
    found = state.v3_envelopes(
        name=request.query.get("filter[name]"),
        modified=_interval(request.query.get("filter[modified]")),
    )
    base = _base(request)
    return _json(list_answer([render_envelope(d, base) for d in found], f"{base}/api/v3/envelopes"))


async def get_envelope(request: web.Request) -> web.Response:
    stored = _envelope(request)
    return _json({"data": render_envelope(stored, _base(request))})


async def get_envelope_document(request: web.Request) -> web.Response:
    stored = _envelope(request)
    if stored.key != request.match_info["document_id"]:
        raise ClicksignApiError(404, v3=True)
    return _json(render_v3_document(stored, _base(request)))


async def list_envelope_signers(request: web.Request) -> web.Response:
    return _json(render_v3_signers(_envelope(request), _base(request)))


def _envelope(request: web.Request) -> SandboxDocument:
    found = request.app[CLICKSIGN_SANDBOX_KEY].state.v3_envelope(request.match_info["envelope_id"])
    if found is None:
        raise ClicksignApiError(404, v3=True)
    return found


def _interval(value: str | None) -> tuple[datetime, datetime] | None:
    """``start,end`` in ISO 8601, the way Clicksign's collection filters by date."""
    if not value or "," not in value:
        return None
    start, end = (parse_timestamp(part.strip()) for part in value.split(",", 1))
    if start is None or end is None:
        raise ClicksignApiError(400, v3=True)
    return start, end


def api_routes() -> list[web.RouteDef]:
    envelope = "/api/v3/envelopes/{envelope_id}"
    return [
        web.get("/api/v1/accounts", get_account),
        web.get("/api/v1/documents/{key}", get_document_v1),
        web.get("/api/v3/envelopes", list_envelopes),
        web.get(envelope, get_envelope),
        web.get(envelope + "/documents/{document_id}", get_envelope_document),
        web.get(envelope + "/signers", list_envelope_signers),
    ]
