"""The page's handlers: read the request, ask the store, render a template. Decisions live in
`filters`, `event_view`, `protection`, `session` and `replaying`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from services.crm_writer.access import peer_host, token_matches
from services.crm_writer.keys import RUNTIME, SETTINGS, STORE
from services.crm_writer.page import event_view, filters
from services.crm_writer.page.i18n import LANGUAGES, ZONES, Viewer, negotiate_language, zone_named
from services.crm_writer.page.links import deal_url, local_path
from services.crm_writer.page.protection import FormRefused, checked_form
from services.crm_writer.page.replaying import PageReplay, broker_reachable, replay_from_page
from services.crm_writer.page.session import (
    LOOPBACK,
    VIA_LOOPBACK,
    VIA_TOKEN,
    Login,
    clean_name,
    current_login,
    end_login,
    leave_message,
    preference,
    set_preferences,
    start_login,
    take_message,
)
from services.crm_writer.store import EventStatus
from services.crm_writer.store.base import MAX_LIST_LIMIT
from shared.logging import get_logger

log = get_logger()


# -- what every page needs ------------------------------------------------------------------


async def viewer_of(request: web.Request) -> Viewer:
    language = await preference(request, "language")
    if language not in LANGUAGES:
        language = negotiate_language(request.headers.get("Accept-Language"))
    zone = await preference(request, "zone")
    return Viewer(language=language, zone_name=zone if zone_named(zone) else Viewer.zone_name)


async def login_of(request: web.Request) -> Login | None:
    """The viewer's session; without a token, a loopback viewer gets one at once (no login)."""
    login = await current_login(request)
    if login is None and request.app[SETTINGS].api_token is None:
        login = await start_login(request, LOOPBACK, VIA_LOOPBACK)
    return login


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    viewer = await viewer_of(request)
    settings = request.app[SETTINGS]
    page = {
        "viewer": viewer,
        "t": viewer.t,
        "when": viewer.when,
        "login": await login_of(request),
        "token_configured": settings.api_token is not None,
        "sandbox": settings.uses_sandbox,
        "flash": await take_message(request),
        "zones": ZONES,
        "here": request.path_qs,
        "event_url": event_url,
        "document_url": document_url,
        "deal_url": lambda deal_id: deal_url(settings, deal_id),
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, page, status=status)


def event_url(event_id: str) -> str:
    return "/event/" + quote(event_id, safe="")


def document_url(document_key: str) -> str:
    return "/document/" + quote(document_key, safe="")


# -- the list, one event, one document --------------------------------------------------------


async def event_list(request: web.Request) -> web.Response:
    wanted = filters.read_filters(request.query)
    viewer = await viewer_of(request)
    query = wanted.query(viewer.zone)
    store = request.app[STORE]
    counts = await store.count_by_status(query.any_status())
    pages = filters.page_count(filters.chip_count(counts, wanted.chip))
    page = min(wanted.page, pages)
    records = await store.search_events(
        query, limit=filters.PAGE_SIZE, offset=(page - 1) * filters.PAGE_SIZE
    )
    chips = [(None, counts.total)] + [
        (chip, filters.chip_count(counts, chip)) for chip in filters.CHIPS
    ]
    return await render(
        request,
        "list.html",
        {
            "filters": wanted,
            "chips": chips,
            "rows": [event_view.event_row(record) for record in records],
            "page": page,
            "pages": pages,
            "parked": counts.of(EventStatus.PARKED),
            "broker_up": broker_reachable(request.app),
            "refresh_seconds": filters.REFRESH_SECONDS,
        },
    )


async def event_details(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    store = request.app[STORE]
    record = await store.get_event(event_id)
    if record is None:
        return await render(request, "not_found.html", {"event_id": event_id}, status=404)
    deal_settings = request.app[RUNTIME].deal_settings
    siblings = await store.list_events(document_key=record.document_key, limit=MAX_LIST_LIMIT)
    calls = event_view.call_views(record.rd_calls)
    return await render(
        request,
        "event.html",
        {
            "record": record,
            "chips": event_view.chips_of(record),
            "payload": record.payload,
            "people": event_view.people(record.payload),
            "document_name": event_view.document_name(record.payload),
            "raw_json": event_view.pretty_json(record.payload.get("raw")),
            "event_json": event_view.pretty_json(
                {key: value for key, value in record.payload.items() if key != "raw"}
            ),
            "removed": event_view.removed_fields(record.payload),
            "derivation": None
            if deal_settings is None
            else event_view.derive(record.payload, deal_settings),
            "calls": calls,
            "failures": [call for call in calls if call.failed],
            "siblings": [
                event_view.event_row(other) for other in siblings if other.event_id != event_id
            ],
            "broker_up": broker_reachable(request.app),
        },
    )


async def document_events(request: web.Request) -> web.Response:
    document_key = request.match_info["document_key"]
    store = request.app[STORE]
    records = await store.list_events(document_key=document_key, limit=MAX_LIST_LIMIT)
    document = await store.get_document(document_key)
    if not records and document is None:
        return await render(request, "not_found.html", {"event_id": document_key}, status=404)
    records.sort(key=lambda record: (record.received_at, record.event_id))
    return await render(
        request,
        "document.html",
        {
            "document_key": document_key,
            "document": document,
            "document_name": next(
                (name for r in records if (name := event_view.document_name(r.payload))), None
            ),
            "rows": [event_view.event_row(record) for record in records],
        },
    )


# -- forms --------------------------------------------------------------------------------------


async def replay(request: web.Request) -> web.Response:
    login = await _form_login(request)
    form = await checked_form(request, login)
    event_ids = [event_id for event_id in form.getall("event_id", []) if event_id][:50]
    all_parked = form.get("all") == "1"
    if all_parked == bool(event_ids):
        raise web.HTTPBadRequest(text="replay one event (event_id) or every parked one (all=1)")
    result = await replay_from_page(
        request.app, event_ids=event_ids, all_parked=all_parked, who=login.who
    )
    kind, messages = _replay_messages(result)
    await leave_message(request, kind, *messages)
    raise web.HTTPSeeOther(local_path(form.get("back")))


def _replay_messages(result: PageReplay) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The kind (``ok`` or ``error``) and the messages that tell what a replay did."""
    if result.broker_down:
        return "error", [("parked.broker_down", {})]
    messages: list[tuple[str, dict[str, Any]]] = []
    if result.replayed:
        messages.append(("replay.done", {"count": len(result.replayed)}))
    if result.missing:
        messages.append(("replay.missing", {"ids": ", ".join(result.missing)}))
    if not result.replayed and not result.missing:
        messages.append(("replay.nothing", {}))
    if result.error:
        messages.append(("replay.stopped", {"error": result.error}))
    if result.truncated:
        messages.append(("replay.truncated", {}))
    return ("error" if result.error or result.missing else "ok"), messages


async def preferences(request: web.Request) -> web.Response:
    login = await _form_login(request)
    form = await checked_form(request, login)
    language = form.get("language")
    zone = form.get("zone")
    await set_preferences(
        request,
        language=language if language in LANGUAGES else None,
        zone=zone if zone_named(zone) else None,
    )
    raise web.HTTPSeeOther(local_path(form.get("back")))


async def login_form(request: web.Request) -> web.Response:
    if request.app[SETTINGS].api_token is None:
        raise web.HTTPSeeOther("/")
    return await render(request, "login.html", {"next": local_path(request.query.get("next"))})


async def log_in(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].api_token
    if token is None:
        raise web.HTTPSeeOther("/")
    form = await checked_form(request, None)
    name, next_page = clean_name(form.get("name", "")), local_path(form.get("next"))
    problem = None
    if not token_matches(form.get("token", ""), token):
        problem = "login.refused"
        log.warning("history.login_refused", peer=peer_host(request))
    elif not name:
        problem = "login.name_needed"
    if problem is not None:
        context = {"next": next_page, "problem": problem, "name": name}
        return await render(request, "login.html", context, status=401)
    await start_login(request, name, VIA_TOKEN)
    log.info("history.logged_in", peer=peer_host(request))
    raise web.HTTPSeeOther(next_page)


async def log_out(request: web.Request) -> web.Response:
    login = await _form_login(request)
    await checked_form(request, login)
    await end_login(request)
    raise web.HTTPSeeOther("/login" if request.app[SETTINGS].api_token else "/")


async def _form_login(request: web.Request) -> Login:
    """The session a form must belong to; a form POSTed without one is refused."""
    login = await current_login(request)
    if login is None:
        raise FormRefused("no session")
    return login


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answering_refused_forms(handler: Handler) -> Handler:
    """``handler``, with a `FormRefused` answered 403 and the page that says what to do."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except FormRefused as exc:
            log.warning("history.form_refused", path=request.path, reason=str(exc))
            return await render(request, "refused.html", {}, status=403)

    return handle
