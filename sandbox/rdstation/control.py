"""``/__sandbox/``: switches and views for tests and humans in other processes. No token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt
from pydantic import ValidationError as BodyInvalid

from sandbox.rdstation.context import SANDBOX_KEY, Sandbox
from sandbox.rdstation.errors import FAULT_STATUSES, json_response
from sandbox.rdstation.faults import DEFAULT_FAULT_MESSAGE, Faults
from sandbox.rdstation.rendering import render_contact, render_deal
from shared.logging import get_logger

CONTROL_PREFIX = "/__sandbox"
log = get_logger()
Body = TypeVar("Body", bound=BaseModel)


class _ControlBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyBody(_ControlBody):
    ms: NonNegativeInt


class FailNextBody(_ControlBody):
    count: PositiveInt = 1
    status: int | None = None
    method: str | None = None
    path_prefix: str | None = None
    hang_seconds: PositiveFloat | None = None
    completes: bool = False
    retry_after_seconds: PositiveInt | None = None
    message: str = DEFAULT_FAULT_MESSAGE


class DealRejectionBody(_ControlBody):
    message: str = "Negociação recusada pelo sandbox"
    field: str = "base"


class RateLimitBody(_ControlBody):
    limit: PositiveInt | None = Field(description="null turns the limit off")
    window_seconds: PositiveFloat = 60.0
    retry_after_header: bool | None = None


def _refused(details: Any) -> web.HTTPBadRequest:
    body = {"error": "invalid control request", "details": details}
    return web.HTTPBadRequest(text=orjson.dumps(body).decode(), content_type="application/json")


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX_KEY]


async def _parse(request: web.Request, model: type[Body]) -> Body:
    try:
        return model.model_validate(orjson.loads(await request.read() or b"{}"))
    except orjson.JSONDecodeError:
        raise _refused("the body must be JSON") from None
    except BodyInvalid as exc:
        raise _refused(exc.errors(include_url=False, include_context=False)) from None


async def get_state(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    state = sandbox.state
    deals = [
        {**render_deal(state, deal), "contact_ids": [c.id for c in state.contacts_of_deal(deal.id)]}
        for deal in state.deals
    ]
    return json_response(
        {
            "counts": {**state.counts(), "requests": len(sandbox.requests.records)},
            "ids": {**vars(state.ids), "default_stage_id": state.default_stage_id},
            "deals": deals,
            "contacts": [render_contact(state, contact, "get") for contact in state.contacts],
            "faults": sandbox.faults.snapshot(),
            "rate_limit": _rate_limit(sandbox),
        }
    )


async def get_deal_page(request: web.Request) -> web.Response:
    """One deal with its contacts, for a person following a link (``signdeal send-test`` prints
    it): no token, unlike ``/api/v1/deals/{id}``."""
    state = _sandbox(request).state
    deal = state.deal(request.match_info["deal_id"])
    if deal is None:
        body = {"error": f"no deal {request.match_info['deal_id']} in this sandbox"}
        return json_response(body, status=404)
    contacts = [
        render_contact(state, contact, "get") for contact in state.contacts_of_deal(deal.id)
    ]
    return json_response({"deal": render_deal(state, deal), "contacts": contacts})


async def get_requests(request: web.Request) -> web.Response:
    records = _sandbox(request).requests.matching(
        request.query.get("method"), request.query.get("path_prefix")
    )
    return json_response({"requests": [record.as_json() for record in records]})


async def clear_requests(request: web.Request) -> web.Response:
    _sandbox(request).requests.clear()
    return json_response({"requests": []})


async def reset(request: web.Request) -> web.Response:
    _sandbox(request).reset()
    log.info("rd_sandbox.reset")
    return json_response({"reset": True})


async def get_faults(request: web.Request) -> web.Response:
    return json_response(_sandbox(request).faults.snapshot())


async def set_latency(request: web.Request) -> web.Response:
    body = await _parse(request, LatencyBody)
    return _faults_changed(request, "latency", lambda faults: faults.set_latency(body.ms))


async def fail_next(request: web.Request) -> web.Response:
    """Arm a failure rule; with ``hang_seconds`` it hangs first (then 504 unless ``completes``)."""
    body = await _parse(request, FailNextBody)
    hang = body.hang_seconds
    status = body.status or (504 if hang is not None else 500)
    if status not in FAULT_STATUSES:
        raise _refused(f"status must be one of {sorted(FAULT_STATUSES)}")

    def arm(faults: Faults) -> None:
        rule = faults.fail_next(
            body.count,
            status,
            method=body.method,
            path_prefix=body.path_prefix,
            completes=body.completes,
            retry_after_seconds=body.retry_after_seconds,
            message=body.message,
        )
        rule.hang_seconds = hang

    return _faults_changed(request, "fail_next", arm)


async def reject_deals(request: web.Request) -> web.Response:
    body = await _parse(request, DealRejectionBody)
    return _faults_changed(
        request,
        "reject_deals",
        lambda faults: faults.reject_deal_creation(body.message, body.field),
    )


async def delete_deal(request: web.Request) -> web.Response:
    """A salesperson deletes (or merges away) a deal in RD's web app."""
    deal_id = request.match_info["deal_id"]
    if not _sandbox(request).state.delete_deal(deal_id):
        return json_response({"error": f"no deal {deal_id}"}, status=404)
    log.info("rd_sandbox.deal_deleted", deal_id=deal_id)
    return json_response({"deleted": deal_id})


async def accept_deals(request: web.Request) -> web.Response:
    return _faults_changed(request, "accept_deals", lambda faults: faults.clear_deal_rejection())


async def clear_faults(request: web.Request) -> web.Response:
    return _faults_changed(request, "clear", lambda faults: faults.reset())


async def get_rate_limit(request: web.Request) -> web.Response:
    return json_response(_rate_limit(_sandbox(request)))


async def set_rate_limit(request: web.Request) -> web.Response:
    body = await _parse(request, RateLimitBody)
    sandbox = _sandbox(request)
    sandbox.limiter.configure(body.limit, body.window_seconds, body.retry_after_header)
    log.info("rd_sandbox.rate_limit", **_rate_limit(sandbox))
    return json_response(_rate_limit(sandbox))


def _faults_changed(
    request: web.Request, what: str, change: Callable[[Faults], object]
) -> web.Response:
    faults = _sandbox(request).faults
    change(faults)
    log.info("rd_sandbox.faults", change=what, faults=faults.snapshot())
    return json_response(faults.snapshot())


def _rate_limit(sandbox: Sandbox) -> dict[str, Any]:
    limiter = sandbox.limiter
    return {
        "limit": limiter.limit,
        "window_seconds": limiter.window_seconds,
        "retry_after_header": limiter.send_retry_after,
    }


def control_routes() -> list[web.RouteDef]:
    p = CONTROL_PREFIX
    return [
        web.get(f"{p}/state", get_state),
        web.get(f"{p}/deals/{{deal_id}}", get_deal_page),
        web.delete(f"{p}/deals/{{deal_id}}", delete_deal),
        web.get(f"{p}/requests", get_requests),
        web.delete(f"{p}/requests", clear_requests),
        web.post(f"{p}/reset", reset),
        web.get(f"{p}/faults", get_faults),
        web.delete(f"{p}/faults", clear_faults),
        web.put(f"{p}/faults/latency", set_latency),
        web.post(f"{p}/faults/fail_next", fail_next),
        web.put(f"{p}/faults/reject_deals", reject_deals),
        web.delete(f"{p}/faults/reject_deals", accept_deals),
        web.get(f"{p}/rate_limit", get_rate_limit),
        web.put(f"{p}/rate_limit", set_rate_limit),
    ]
