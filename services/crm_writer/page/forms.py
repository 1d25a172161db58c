"""The history page's forms: Replay, preferences, sign-in and sign-out. Each POST is checked by
`protection.checked_form` first; a refused one is answered 403 (`answering_refused_forms`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from services.crm_writer.access import peer_host, token_matches
from services.crm_writer.keys import SETTINGS
from services.crm_writer.page.i18n import LANGUAGES, zone_named
from services.crm_writer.page.links import local_path
from services.crm_writer.page.protection import FormRefused, checked_form
from services.crm_writer.page.rendering import render
from services.crm_writer.page.replaying import PageReplay, replay_from_page
from services.crm_writer.page.session import (
    VIA_TOKEN,
    Login,
    clean_name,
    current_login,
    end_login,
    leave_message,
    set_preferences,
    start_login,
)
from shared.logging import get_logger

log = get_logger()


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
