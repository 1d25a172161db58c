"""Who is looking at the page: the login session, in an encrypted cookie.

A browser cannot send ``Authorization: Bearer``, so the login form takes the history token once
and sets a session cookie (aiohttp-session's `EncryptedCookieStorage`: Fernet, so the cookie is
both signed and unreadable, and expires server-side after `SESSION_SECONDS`). Its key is
derived from ``CRM_WRITER_API_TOKEN`` (HKDF-SHA256): every replica accepts every other's
cookies, and rotating the token ends every session. Without a token the page serves loopback
clients only, with no login: their session (a random key per process) holds what a form needs,
its CSRF token, and records the viewer as ``loopback``.

The cookie is HttpOnly, SameSite=Strict, and Secure when the request came over https (directly,
or through a proxy that says ``X-Forwarded-Proto: https``).
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from aiohttp_session import Session, get_session, new_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE_NAME = "signdeal_history"
SESSION_SECONDS = 8 * 3600
LOOPBACK = "loopback"
# What a session's "via" says: the login form took the token, or a loopback client without one.
VIA_TOKEN = "token"  # noqa: S105 - a label, not a token
VIA_LOOPBACK = "loopback"
MAX_NAME_LENGTH = 60
_KEY_INFO = b"signdeal history page session"

# aiohttp-session 2.12 keeps its storage and session on the request under string keys, which
# aiohttp 3.14 warns about on every process's first request: noise on stderr, nothing to fix here.
warnings.filterwarnings("ignore", category=NotAppKeyWarning, module="aiohttp_session")


def session_key(token: str | None) -> bytes:
    """32 bytes for the cookie's encryption: derived from the history token, or random (sessions
    then last as long as the process)."""
    if token is None:
        return os.urandom(32)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO)
    return hkdf.derive(token.encode())


class PageCookieStorage(EncryptedCookieStorage):
    """`EncryptedCookieStorage` whose cookie is Secure whenever the request was https."""

    def __init__(self, token: str | None) -> None:
        super().__init__(
            session_key(token),
            cookie_name=COOKIE_NAME,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="Strict",
        )

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        await super().save_session(request, response, session)
        cookie = response.cookies.get(self.cookie_name)
        if cookie is not None and served_over_https(request):
            cookie["secure"] = True


def served_over_https(request: web.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


@dataclass(frozen=True)
class Login:
    """A signed-in viewer: the name recorded with what they do, and their forms' CSRF token."""

    who: str
    csrf: str
    via: str


def clean_name(text: str) -> str:
    """The name a person typed, without control characters, trimmed to `MAX_NAME_LENGTH`."""
    printable = "".join(ch for ch in text[: MAX_NAME_LENGTH * 4] if ch.isprintable())
    return " ".join(printable.split())[:MAX_NAME_LENGTH]


async def start_login(request: web.Request, who: str, via: str) -> Login:
    """A new session (never the one the browser brought: no session fixation)."""
    session = await new_session(request)
    login = Login(who=who, csrf=secrets.token_urlsafe(32), via=via)
    session.update({"who": login.who, "csrf": login.csrf, "via": login.via})
    return login


async def current_login(request: web.Request) -> Login | None:
    session = await get_session(request)
    who, csrf, via = session.get("who"), session.get("csrf"), session.get("via")
    if not (isinstance(who, str) and isinstance(csrf, str) and isinstance(via, str)):
        return None
    return Login(who=who, csrf=csrf, via=via)


async def end_login(request: web.Request) -> None:
    (await get_session(request)).invalidate()


async def holds_token_login(request: web.Request) -> bool:
    """The access rule's `SessionCheck`: did the login form take the token for this session?"""
    login = await current_login(request)
    return login is not None and login.via == VIA_TOKEN


async def preference(request: web.Request, name: str) -> Any:
    return (await get_session(request)).get(f"pref.{name}")


async def set_preferences(request: web.Request, **values: str | None) -> None:
    session = await get_session(request)
    for name, value in values.items():
        if value:
            session[f"pref.{name}"] = value
        else:
            session.pop(f"pref.{name}", None)


async def leave_message(
    request: web.Request, kind: str, *messages: tuple[str, dict[str, Any]]
) -> None:
    """What the next page shows once (after a form's redirect): ``(message id, fields)``s."""
    (await get_session(request))["flash"] = {"kind": kind, "messages": list(messages)}


async def take_message(request: web.Request) -> dict[str, Any] | None:
    session = await get_session(request)
    flash = session.pop("flash", None) if "flash" in session else None
    return flash if isinstance(flash, dict) else None
