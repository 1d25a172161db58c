"""What every page of the history needs: who looks (language, zone, session) and the template
rendered with it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from services.crm_writer.keys import SETTINGS
from services.crm_writer.page.i18n import (
    DEFAULT_ZONE,
    LANGUAGES,
    ZONES,
    Viewer,
    negotiate_language,
    zone_named,
)
from services.crm_writer.page.session import (
    LOOPBACK,
    VIA_LOOPBACK,
    Login,
    current_login,
    preference,
    start_login,
    take_message,
)


async def viewer_of(request: web.Request) -> Viewer:
    chosen = await preference(request, "language")
    chosen = chosen if chosen in LANGUAGES else None
    language = chosen or negotiate_language(request.headers.get("Accept-Language"))
    zone = await preference(request, "zone")
    return Viewer(
        language=language,
        zone_name=zone if zone_named(zone) else DEFAULT_ZONE,
        chosen_language=chosen,
    )


async def login_of(request: web.Request) -> Login | None:
    """The viewer's session; without a token, a loopback viewer gets one at once (no login)."""
    login = await current_login(request)
    if login is None and request.app[SETTINGS].api_token is None:
        login = await start_login(request, LOOPBACK, VIA_LOOPBACK)
    return login


async def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    viewer: Viewer | None = None,
) -> web.Response:
    """``template`` with the page's common context; ``viewer`` when the caller has it already."""
    viewer = viewer or await viewer_of(request)
    settings = request.app[SETTINGS]
    page = {
        "viewer": viewer,
        "t": viewer.t,
        "when": viewer.when,
        "login": await login_of(request),
        "sandbox": settings.uses_sandbox,
        "flash": await take_message(request),
        "zones": ZONES,
        "here": request.path_qs,
        "event_url": event_url,
        "document_url": document_url,
        "deal_url": settings.deal_web_url,
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, page, status=status)


def event_url(event_id: str) -> str:
    return "/event/" + quote(event_id, safe="")


def document_url(document_key: str) -> str:
    return "/document/" + quote(document_key, safe="")
