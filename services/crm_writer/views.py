"""crm_writer's HTTP side: liveness, readiness, and the read-only automation history."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from services.crm_writer.history_query import parse_since, parse_status
from services.crm_writer.keys import RUNTIME, STORE
from services.crm_writer.store import EventRecord
from services.crm_writer.store.base import MAX_LIST_LIMIT

_SUMMARY_FIELDS = (
    "event_id",
    "document_key",
    "event_name",
    "status",
    "outcome",
    "deal_id",
    "attempts",
    "duplicates",
    "error",
    "note",
    "correlation_id",
    "received_at",
    "last_attempt_at",
    "finished_at",
    "duration_ms",
)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/events", list_events)
    app.router.add_get("/events/{event_id}", show_event)


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
    )


async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks = {"broker": runtime.consuming, "store": True}
    try:
        await request.app[STORE].ping()
    except Exception:
        checks["store"] = False
    ready = all(checks.values())
    return json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def list_events(request: web.Request) -> web.Response:
    try:
        status = parse_status(request.query.get("status"))
        since_text = request.query.get("since")
        since = parse_since(since_text) if since_text else None
        limit = min(int(request.query.get("limit", "50")), MAX_LIST_LIMIT)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    records = await request.app[STORE].list_events(
        status=status,
        document_key=request.query.get("document_key") or None,
        since=since,
        limit=max(limit, 1),
    )
    return json_response({"events": [event_summary(record) for record in records]})


async def show_event(request: web.Request) -> web.Response:
    record = await request.app[STORE].get_event(request.match_info["event_id"])
    if record is None:
        return json_response({"error": "no such event"}, status=404)
    return json_response(asdict(record))


def event_summary(record: EventRecord) -> dict[str, Any]:
    full = asdict(record)
    return {key: full[key] for key in _SUMMARY_FIELDS}
