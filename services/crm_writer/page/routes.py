"""How the page joins crm_writer's app: its routes, templates, static files, session and the
access rule's seams (the login session, the login form's open routes, a redirect to the form
instead of a 401 for a browser that has no session yet)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import session_middleware

from services.crm_writer.access import (
    HISTORY_ACCESS,
    OPEN_ROUTES,
    HistoryAccess,
    Verdict,
)
from services.crm_writer.keys import SETTINGS
from services.crm_writer.page import forms, views
from services.crm_writer.page.protection import NO_STORE, add_security_headers
from services.crm_writer.page.session import PageCookieStorage, holds_token_login

ROUTE_PREFIX = "page."
STATIC_FOLDER = Path(__file__).parent / "static"
# The login form and the stylesheet hold no personal data: answered without credentials.
PAGE_OPEN_ROUTES = frozenset({"/login", "/static"})


def setup_history_page(app: web.Application) -> None:
    """Add the history page to crm_writer's ``app`` (after its access rule was set up)."""
    token = app[SETTINGS].api_token
    # Outside every other middleware: the access rule reads the session it loads.
    app.middlewares.insert(0, session_middleware(PageCookieStorage(token)))
    app[HISTORY_ACCESS] = HistoryAccess(
        token,
        open_routes=OPEN_ROUTES | PAGE_OPEN_ROUTES,
        session_check=holds_token_login,
        refusal_page=send_to_login,
    )
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("services.crm_writer.page", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        default_helpers=False,
    )
    checked = forms.answering_refused_forms
    app.router.add_get("/", views.event_list, name="page.list")
    app.router.add_get("/event/{event_id}", views.event_details, name="page.event")
    app.router.add_get("/document/{document_key}", views.document_events, name="page.document")
    app.router.add_post("/replay", checked(forms.replay), name="page.replay")
    app.router.add_post("/preferences", checked(forms.preferences), name="page.preferences")
    app.router.add_get("/login", forms.login_form, name="page.login")
    app.router.add_post("/login", checked(forms.log_in), name="page.log_in")
    app.router.add_post("/logout", checked(forms.log_out), name="page.log_out")
    app.router.add_static("/static", STATIC_FOLDER, name="page.static")
    app.on_response_prepare.append(_page_headers)


def is_page_route(request: web.Request) -> bool:
    name = request.match_info.route.name
    return name is not None and name.startswith(ROUTE_PREFIX)


def send_to_login(request: web.Request, verdict: Verdict) -> web.StreamResponse | None:
    """A browser on a page without a session goes to the login form, and comes back after."""
    if verdict is not Verdict.NO_CREDENTIALS or not is_page_route(request):
        return None
    target = "/login" if request.path_qs == "/" else f"/login?{_next_query(request.path_qs)}"
    return web.Response(status=303, headers={"Location": target})


def _next_query(path_qs: str) -> str:
    return urlencode({"next": path_qs})


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not is_page_route(request):
        return
    add_security_headers(response)
    if request.match_info.route.name != "page.static":
        response.headers.update(NO_STORE)
