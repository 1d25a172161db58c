"""Who may read the history (signers' personal data): the one access rule of crm_writer's HTTP side.

The rule (docs/architecture.md, "Endpoints"; ``CRM_WRITER_API_TOKEN``):

- **a token is configured**: every client presents it, loopback included, as
  ``Authorization: Bearer <token>`` (compared in constant time), or holds a session the history
  page's login form set (`SessionCheck`, the seam for that page);
- **no token**: only loopback clients (127.0.0.0/8, ::1) are answered. "The client" is the TCP
  peer of the connection (the socket's ``peername``), never ``X-Forwarded-For`` or ``Forwarded``,
  which any client can write. ``kubectl port-forward`` reaches the pod on its own loopback, so it
  is a loopback client; so is anything else on the same host or in the same pod (a reverse proxy,
  a service-mesh sidecar): behind one, every client looks like loopback, so set a token. The
  request must also be *for* a loopback name (``Host``: localhost, ``*.localhost``, a loopback
  address): a web page whose own name an attacker re-points at 127.0.0.1 (DNS rebinding) makes
  the operator's browser a loopback client, but its requests still name the attacker's host;
- the token is **never** taken from the query string (proxies and access logs keep URLs);
- ``/healthz``, ``/readyz`` and ``/metrics`` stay open (probes and Prometheus carry no token).

Every other route is protected, including routes added later: a route is open only when it is
listed in ``open_routes``, so a new page or endpoint cannot be exposed by forgetting to protect it.
The decision itself is the pure `decide`; `HistoryAccess` reads a request into `Credentials` and
`history_access_middleware` answers 401/403 for a protected route.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from shared.logging import get_logger

log = get_logger()

# Routes (as registered, `resource.canonical`) answered without credentials.
OPEN_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Query parameters a client might put a token in; the token is never read from them.
_TOKEN_QUERY_NAMES = frozenset({"token", "access_token", "api_token", "auth", "authorization"})
TOKEN_VARIABLE = "CRM_WRITER_API_TOKEN"  # noqa: S105 - the name of the variable, not a token

# Does this request carry a valid session (set by the history page's login form)?
SessionCheck = Callable[[web.Request], Awaitable[bool]]


class Verdict(enum.Enum):
    """What the rule says about one request to a protected route."""

    ALLOWED = "allowed"
    NO_CREDENTIALS = "no_credentials"
    WRONG_CREDENTIALS = "wrong_credentials"
    CREDENTIALS_IN_QUERY = "credentials_in_query"
    NOT_LOOPBACK = "not_loopback"
    NOT_LOOPBACK_NAME = "not_loopback_name"

    @property
    def status(self) -> int:
        if self is Verdict.ALLOWED:
            return 200
        return 403 if self in (Verdict.NOT_LOOPBACK, Verdict.NOT_LOOPBACK_NAME) else 401


# How a page answers a refusal its own way (e.g. a redirect to its login form); None keeps the
# JSON answer of `refusal`.
RefusalPage = Callable[[web.Request, Verdict], web.StreamResponse | None]


@dataclass(frozen=True)
class Credentials:
    """What a request brings that the rule looks at.

    ``peer`` is the TCP peer's address (None for anything else, e.g. a Unix socket);
    ``host`` the ``Host`` header (None when the client sent none, as HTTP/1.0 allows);
    ``session`` is True when `SessionCheck` recognised a valid session.
    """

    authorization: str | None = None
    peer: str | None = None
    token_in_query: bool = False
    session: bool = False
    host: str | None = None


def decide(credentials: Credentials, token: str | None) -> Verdict:
    """The access rule; ``token`` is ``CRM_WRITER_API_TOKEN`` (None when unset)."""
    if token is None:
        if not is_loopback(credentials.peer):
            return Verdict.NOT_LOOPBACK
        if credentials.host is not None and not is_loopback_name(credentials.host):
            return Verdict.NOT_LOOPBACK_NAME
        return Verdict.ALLOWED
    if credentials.session:
        return Verdict.ALLOWED
    presented = bearer_token(credentials.authorization)
    if presented is None and credentials.token_in_query:
        return Verdict.CREDENTIALS_IN_QUERY
    if presented is None:
        return Verdict.NO_CREDENTIALS
    return Verdict.ALLOWED if token_matches(presented, token) else Verdict.WRONG_CREDENTIALS


def token_matches(presented: str, token: str) -> bool:
    """Constant time: how long the comparison takes says nothing about how much matched."""
    # aiohttp decodes header bytes that are not UTF-8 as surrogates: they encode back as the
    # bytes they were (and match no token) instead of raising into a 500.
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), token.encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address (a dual-stack socket)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_name(host: str) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost`` or a name under it (RFC 6761:
    browsers resolve those to loopback themselves), or a loopback address; a port may follow."""
    text = host.strip().lower()
    if text.startswith("["):
        name = text[1:].partition("]")[0]
    else:
        name, _, port = text.rpartition(":")
        if not name or not port.isdigit():
            name = text
    name = name.removesuffix(".")
    return name == "localhost" or name.endswith(".localhost") or is_loopback(name)


def peer_host(request: web.Request) -> str | None:
    """The connection's TCP peer, from the socket itself (not ``request.remote``, which a
    forwarded-headers middleware may rewrite, and never a header)."""
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peername, tuple | list) and peername and isinstance(peername[0], str):
        return peername[0]
    return None


class HistoryAccess:
    """The rule for one crm_writer: its token, its open routes, and (later) its sessions.

    ``session_check`` is the seam for the history page: the engineer who adds its login form
    passes a function that says whether a request carries a valid session cookie (set once the
    form received the right token); such a request then counts as presenting the token. The
    login form's own routes go into ``open_routes``; ``refusal_page`` lets the page answer a
    refusal its way (a browser with no session is sent to the login form, not shown a 401).
    """

    def __init__(
        self,
        token: str | None,
        *,
        open_routes: Iterable[str] = OPEN_ROUTES,
        session_check: SessionCheck | None = None,
        refusal_page: RefusalPage | None = None,
    ) -> None:
        self._token = token
        self.open_routes = frozenset(open_routes)
        self._session_check = session_check
        self._refusal_page = refusal_page

    def is_open(self, request: web.Request) -> bool:
        """Whether the route the request matched is listed as open (an unmatched path is not)."""
        resource = request.match_info.route.resource
        return resource is not None and resource.canonical in self.open_routes

    async def credentials(self, request: web.Request) -> Credentials:
        session = False
        if self._token is not None and self._session_check is not None:
            session = await self._session_check(request)
        return Credentials(
            authorization=request.headers.get("Authorization"),
            peer=peer_host(request),
            token_in_query=any(name.lower() in _TOKEN_QUERY_NAMES for name in request.query),
            session=session,
            host=request.headers.get("Host"),
        )

    async def verdict(self, request: web.Request) -> Verdict:
        """The rule applied to ``request``, whatever route it is for."""
        return decide(await self.credentials(request), self._token)

    def refusal_for(self, request: web.Request, verdict: Verdict) -> web.StreamResponse:
        """The answer to a refused request: the page's own (`RefusalPage`) or the JSON one."""
        page = self._refusal_page(request, verdict) if self._refusal_page is not None else None
        return page if page is not None else refusal(verdict)


HISTORY_ACCESS = web.AppKey("history_access", HistoryAccess)


@web.middleware
async def history_access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers 401/403 for a protected route the request may not use; see the module docstring."""
    access = request.app[HISTORY_ACCESS]
    if access.is_open(request):
        return await handler(request)
    verdict = await access.verdict(request)
    if verdict is Verdict.ALLOWED:
        return await handler(request)
    log.warning(
        "history.access_denied",
        path=request.path,
        status=verdict.status,
        reason=verdict.value,
        peer=peer_host(request),
    )
    return access.refusal_for(request, verdict)


def refusal(verdict: Verdict) -> web.Response:
    """The 401 or 403 answer for a verdict other than `Verdict.ALLOWED`."""
    headers = {}
    if verdict.status == 401:
        challenge = 'Bearer realm="signdeal history"'
        if verdict is Verdict.WRONG_CREDENTIALS:
            challenge += ', error="invalid_token"'
        headers["WWW-Authenticate"] = challenge
    return web.Response(
        body=orjson.dumps({"error": _REASONS[verdict]}),
        status=verdict.status,
        content_type="application/json",
        headers=headers,
    )


_REASONS = {
    Verdict.NO_CREDENTIALS: f"send {TOKEN_VARIABLE} as 'Authorization: Bearer <token>'",
    Verdict.WRONG_CREDENTIALS: f"the bearer token is not crm_writer's {TOKEN_VARIABLE}",
    Verdict.CREDENTIALS_IN_QUERY: (
        f"a token in the query string is never accepted (proxies log URLs): send {TOKEN_VARIABLE}"
        " as 'Authorization: Bearer <token>'"
    ),
    Verdict.NOT_LOOPBACK_NAME: (
        f"crm_writer has no {TOKEN_VARIABLE}, so its history answers requests for localhost or "
        "a loopback address only (the Host header names another host: a DNS-rebinding page "
        f"looks like this): open it as localhost, or set {TOKEN_VARIABLE} on crm_writer"
    ),
    Verdict.NOT_LOOPBACK: (
        f"crm_writer has no {TOKEN_VARIABLE}, so its history answers loopback clients only "
        f"(e.g. through kubectl port-forward): set {TOKEN_VARIABLE} on crm_writer and send it "
        "as 'Authorization: Bearer <token>'"
    ),
}
