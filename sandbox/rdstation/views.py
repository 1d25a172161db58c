"""``/api/v1`` handlers: read the request, call `payloads`/`state`/`listing`, render the answer.
Errors are raised as `ApiError` and answered by the error middleware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from sandbox.rdstation.contact_payloads import parse_contact
from sandbox.rdstation.context import SANDBOX_KEY, USER_KEY
from sandbox.rdstation.deal_payloads import parse_deal_update, parse_new_deal
from sandbox.rdstation.errors import BadRequest, ResourceNotFound, ValidationFailed, json_response
from sandbox.rdstation.listing import (
    after_cursor,
    deal_cursor,
    page_request,
    paginate,
    search_contacts,
    search_deals,
)
from sandbox.rdstation.models import Contact, Deal
from sandbox.rdstation.rendering import (
    render_contact,
    render_custom_field,
    render_deal,
    render_deal_in_list,
    render_pipeline,
    render_stage,
    render_user,
)
from sandbox.rdstation.state import SandboxState


def _state(request: web.Request) -> SandboxState:
    return request.app[SANDBOX_KEY].state


async def _json_body(request: web.Request) -> Mapping[str, Any]:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed JSON body") from None
    if not isinstance(body, Mapping):
        raise BadRequest("The body must be a JSON object")
    return body


# -- account --------------------------------------------------------------------------------


async def check_token(request: web.Request) -> web.Response:
    user = request[USER_KEY]
    organization = _state(request).organization_name
    return json_response({"email": user.email, "name": user.name, "organization": organization})


async def list_users(request: web.Request) -> web.Response:
    users = _state(request).users
    active = request.query.get("active")
    if active in ("true", "false"):
        users = [user for user in users if user.active == (active == "true")]
    return json_response({"users": [render_user(user) for user in users]})


async def get_user(request: web.Request) -> web.Response:
    user = _state(request).user(request.match_info["user_id"])
    if user is None:
        raise ResourceNotFound("User not found.")
    return json_response(render_user(user))


async def list_pipelines(request: web.Request) -> web.Response:
    pipelines = sorted(_state(request).pipelines, key=lambda pipeline: pipeline.order)
    page = paginate(pipelines, page_request(request.query))
    return json_response([render_pipeline(pipeline) for pipeline in page.items])


async def get_pipeline(request: web.Request) -> web.Response:
    pipeline = _state(request).pipeline(request.match_info["pipeline_id"])
    if pipeline is None:
        raise ResourceNotFound("Deal pipeline not found.")
    return json_response(render_pipeline(pipeline))


async def list_stages(request: web.Request) -> web.Response:
    """Stages of ``deal_pipeline_id``; a missing or unknown pipeline means the default one."""
    state = _state(request)
    pipeline = state.pipeline(request.query.get("deal_pipeline_id", "")) or state.default_pipeline
    page = paginate(pipeline.stages, page_request(request.query, default_limit=12, max_limit=12))
    stages = [render_stage(state, stage) for stage in page.items]
    return json_response({"deal_stages": stages, "has_more": page.has_more, "total": page.total})


async def get_stage(request: web.Request) -> web.Response:
    state = _state(request)
    stage = state.stage(request.match_info["stage_id"])
    if stage is None:
        raise ResourceNotFound("Deal stage not found.")
    return json_response(render_stage(state, stage))


async def list_custom_fields(request: web.Request) -> web.Response:
    state = _state(request)
    wanted = request.query.get("for")
    fields = [f for f in state.custom_fields if wanted is None or f.for_ == wanted]
    fields.sort(key=lambda custom: (custom.for_, custom.order))
    return json_response([render_custom_field(state, custom) for custom in fields])


async def get_custom_field(request: web.Request) -> web.Response:
    state = _state(request)
    custom = state.custom_field(request.match_info["custom_field_id"])
    if custom is None:
        raise ResourceNotFound("Custom field not found.")
    return json_response(render_custom_field(state, custom))


# -- contacts -------------------------------------------------------------------------------


def _contact(request: web.Request) -> Contact:
    contact = _state(request).contact(request.match_info["contact_id"])
    if contact is None:
        raise ResourceNotFound("Lead not found.")
    return contact


async def list_contacts(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    email = request.query.get("email")
    # The e-mail index narrows the candidates; search_contacts still applies every filter.
    candidates = sandbox.state.contacts_with_email(email) if email else sandbox.state.contacts
    found = search_contacts(candidates, request.query)
    page = paginate(found, page_request(request.query), sandbox.config.listing_cap)
    contacts = [render_contact(sandbox.state, contact, "list") for contact in page.items]
    return json_response({"contacts": contacts, "has_more": page.has_more, "total": page.total})


async def create_contact(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _json_body(request)
    contact = state.create_contact(parse_contact(body.get("contact"), state, creating=True))
    return json_response(render_contact(state, contact, "get"))


async def get_contact(request: web.Request) -> web.Response:
    return json_response(render_contact(_state(request), _contact(request), "get"))


async def update_contact(request: web.Request) -> web.Response:
    """``deal_ids`` replaces the contact's deals; clients must send the union they want."""
    state = _state(request)
    contact = _contact(request)
    body = await _json_body(request)
    changes = parse_contact(body.get("contact"), state, creating=False, contact_id=contact.id)
    return json_response(render_contact(state, state.update_contact(contact, changes), "get"))


# -- deals ----------------------------------------------------------------------------------


def _deal(request: web.Request) -> Deal:
    deal = _state(request).deal(request.match_info["deal_id"])
    if deal is None:
        raise ResourceNotFound("Deal not found.")
    return deal


async def list_deals(request: web.Request) -> web.Response:
    """Pages by ``page``, or by the ``next_page`` cursor of a previous answer."""
    sandbox = request.app[SANDBOX_KEY]
    found = search_deals(sandbox.state, request.query)
    reachable = found[: sandbox.config.listing_cap]
    paging = page_request(request.query)
    cursor = request.query.get("next_page")
    rest = after_cursor(reachable, cursor) if cursor else reachable[paging.offset :]
    items = rest[: paging.limit]
    return json_response(
        {
            "deals": [render_deal_in_list(sandbox.state, deal) for deal in items],
            "has_more": len(rest) > len(items),
            "total": len(found),
            "next_page": deal_cursor(items[-1]) if items else None,
        }
    )


async def create_deal(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    rejection = sandbox.faults.deal_rejection
    if rejection is not None:
        raise ValidationFailed({rejection.field: [rejection.message]})
    new_deal = parse_new_deal(await _json_body(request), sandbox.state)
    if "user_id" not in new_deal.deal:
        new_deal.deal["user_id"] = request[USER_KEY].id
    deal = sandbox.state.create_deal(new_deal)
    return json_response(render_deal(sandbox.state, deal))


async def get_deal(request: web.Request) -> web.Response:
    return json_response(render_deal(_state(request), _deal(request)))


async def update_deal(request: web.Request) -> web.Response:
    """Only a top-level ``deal_stage_id`` moves the deal; inside ``deal`` it is ignored."""
    state = _state(request)
    deal = _deal(request)
    changes, stage_id = parse_deal_update(await _json_body(request), state, deal.id)
    return json_response(render_deal(state, state.update_deal(deal, changes, stage_id)))


async def list_deal_contacts(request: web.Request) -> web.Response:
    state = _state(request)
    deal = _deal(request)
    page = paginate(state.contacts_of_deal(deal.id), page_request(request.query))
    contacts = [render_contact(state, contact, "of_deal") for contact in page.items]
    return json_response({"contacts": contacts, "has_more": page.has_more, "total": page.total})
