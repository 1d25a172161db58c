"""What keeps the page's forms and answers from being used against its viewers.

- A form POST (replay, preferences, sign-out, sign-in) is accepted only when it comes from this
  page (`from_this_page`) and, once signed in, when it carries the session's CSRF token; the
  session cookie is SameSite=Strict besides (`session`). "From this page": its ``Origin`` is
  this host; or, since a page served with ``Referrer-Policy: no-referrer`` makes the browser
  send ``Origin: null`` even to itself (Fetch standard, "append a request Origin header"), a
  ``null`` or missing ``Origin`` with ``Sec-Fetch-Site: same-origin``, which browsers set and no
  script can. A sandboxed frame or a ``data:`` page also sends ``null``, with
  ``Sec-Fetch-Site: cross-site``: refused.
- Every page answer forbids scripts, framing and sniffing, and sends no referrer (so no URL with a
  filter in it leaves for RD Station's site when a deal link is followed).
"""

from __future__ import annotations

import hmac

from aiohttp import web
from multidict import MultiDict
from yarl import URL

from services.crm_writer.page.session import Login

# No script at all: the page works without JavaScript (auto-refresh is a meta refresh).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Pages carry signers' personal data: no cache, shared or private, keeps a copy.
NO_STORE = {"Cache-Control": "no-store"}


class FormRefused(Exception):
    """A form POST that did not come from this page (wrong or missing Origin, CSRF token)."""


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether an ``Origin`` header names the host the request was sent to (its ``Host``)."""
    if not origin or not host or origin == "null":
        return False
    parsed = URL(origin)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        return False
    return (parsed.raw_authority or "").lower() == host.strip().lower()


def from_this_page(origin: str | None, fetch_site: str | None, host: str | None) -> bool:
    """Whether a form POST came from this page: see the module docstring."""
    if origin is None or origin == "null":
        return (fetch_site or "").strip().lower() == "same-origin"
    return same_origin(origin, host)


def csrf_matches(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


async def checked_form(request: web.Request, login: Login | None) -> MultiDict[str]:
    """The POSTed form's text fields, once its origin is this page's and it carries ``login``'s
    CSRF token; `FormRefused` otherwise. ``login`` is None only for the sign-in form, which has
    no session yet (the token it carries is its proof)."""
    headers = request.headers
    if not from_this_page(
        headers.get("Origin"), headers.get("Sec-Fetch-Site"), headers.get("Host")
    ):
        raise FormRefused("origin")
    form = await request.post()
    fields: MultiDict[str] = MultiDict(
        (key, value) for key, value in form.items() if isinstance(value, str)
    )
    if login is not None and not csrf_matches(fields.get("csrf"), login.csrf):
        raise FormRefused("csrf")
    return fields


def add_security_headers(response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
