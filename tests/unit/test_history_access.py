"""The history's access rule as a decision: token or loopback, never the query string."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.crm_writer import access
from services.crm_writer.access import (
    HISTORY_ACCESS,
    Credentials,
    HistoryAccess,
    Verdict,
    bearer_token,
    decide,
    history_access_middleware,
    is_loopback,
)

TOKEN = "a-long-enough-history-token"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]
)
def test_loopback_peers(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "fe80::1%eth0", "2001:db8::1", "", None, "x"],
)
def test_other_peers_are_not_loopback(host: str | None) -> None:
    assert not is_loopback(host)


def test_without_a_token_loopback_clients_are_answered() -> None:
    assert decide(Credentials(peer="127.0.0.1"), None) is Verdict.ALLOWED
    assert decide(Credentials(peer="::1"), None) is Verdict.ALLOWED


def test_without_a_token_other_clients_are_refused_whatever_they_send() -> None:
    sent = Credentials(authorization=f"Bearer {TOKEN}", peer="192.0.2.2", session=True)
    assert decide(sent, None) is Verdict.NOT_LOOPBACK
    assert decide(Credentials(peer=None), None) is Verdict.NOT_LOOPBACK
    assert Verdict.NOT_LOOPBACK.status == 403


def test_with_a_token_loopback_must_present_it_too() -> None:
    assert decide(Credentials(peer="127.0.0.1"), TOKEN) is Verdict.NO_CREDENTIALS
    assert Verdict.NO_CREDENTIALS.status == 401


def test_with_a_token_the_right_bearer_is_answered_from_anywhere() -> None:
    for peer in ("127.0.0.1", "192.0.2.2", None):
        sent = Credentials(authorization=f"Bearer {TOKEN}", peer=peer)
        assert decide(sent, TOKEN) is Verdict.ALLOWED


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer x",
        # Bytes that are not UTF-8, as aiohttp hands them over (surrogates): 401, not a 500.
        "Bearer \udcff\udcfe",
    ],
)
def test_a_wrong_or_malformed_bearer_is_refused(authorization: str) -> None:
    verdict = decide(Credentials(authorization=authorization, peer="127.0.0.1"), TOKEN)
    assert verdict in (Verdict.WRONG_CREDENTIALS, Verdict.NO_CREDENTIALS)
    assert verdict.status == 401


def test_a_token_in_the_query_string_is_never_taken() -> None:
    verdict = decide(Credentials(peer="127.0.0.1", token_in_query=True), TOKEN)
    assert verdict is Verdict.CREDENTIALS_IN_QUERY
    assert verdict.status == 401


def test_a_valid_session_counts_as_the_token() -> None:
    assert decide(Credentials(peer="192.0.2.2", session=True), TOKEN) is Verdict.ALLOWED


def test_the_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token(f"bearer {TOKEN}") == TOKEN
    assert bearer_token(f"  BEARER   {TOKEN}  ") == TOKEN
    assert bearer_token(None) is None


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def spy(presented: bytes, expected: bytes) -> bool:
        calls.append((presented, expected))
        return presented == expected

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    assert decide(Credentials(authorization=f"Bearer {TOKEN}"), TOKEN) is Verdict.ALLOWED
    assert decide(Credentials(authorization="Bearer nope"), TOKEN) is Verdict.WRONG_CREDENTIALS
    assert calls == [(TOKEN.encode(), TOKEN.encode()), (b"nope", TOKEN.encode())]


# -- the middleware, on requests whose socket peer is whatever the test says -------------------


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="history")


def _app(token: str | None) -> web.Application:
    app = web.Application(middlewares=[history_access_middleware])
    app[HISTORY_ACCESS] = HistoryAccess(token)
    app.router.add_get("/events", _ok)
    app.router.add_get("/healthz", _ok)
    return app


async def _answer(
    app: web.Application, path: str, peer: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    transport = MagicMock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 52100) if name == "peername" else default
    )
    request = make_mocked_request(
        "GET",
        path,
        headers={"X-Forwarded-For": "127.0.0.1", **(headers or {})},
        app=app,
        transport=transport,
    )
    match = await app.router.resolve(request)
    match.add_app(app)
    request._match_info = match
    return await history_access_middleware(request, match.handler)


async def test_the_socket_peer_decides_not_x_forwarded_for() -> None:
    app = _app(None)
    refused = await _answer(app, "/events", "192.0.2.2")
    assert refused.status == 403
    assert isinstance(refused, web.Response) and refused.body is not None
    assert b"CRM_WRITER_API_TOKEN" in bytes(refused.body)  # type: ignore[arg-type]
    assert (await _answer(app, "/events", "127.0.0.1")).status == 200
    assert (await _answer(app, "/healthz", "192.0.2.2")).status == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST:8081",
        "localhost.",
        "app.localhost:8081",
        "127.0.0.1",
        "127.0.0.1:8081",
        "[::1]:8081",
        "[::1]",
        "[::ffff:127.0.0.1]:80",
    ],
)
def test_without_a_token_requests_for_a_loopback_name_are_answered(host: str) -> None:
    assert decide(Credentials(peer="127.0.0.1", host=host), None) is Verdict.ALLOWED


@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example:8081",
        "attacker.example",
        "localhost.attacker.example",
        "127.0.0.1.nip.io:8081",
        "10.0.0.5:8081",
        "[2001:db8::1]:8081",
        "",
    ],
)
def test_without_a_token_a_request_for_another_host_is_refused_dns_rebinding(host: str) -> None:
    # A page whose name was re-pointed at 127.0.0.1 comes from a loopback peer, for its own name.
    verdict = decide(Credentials(peer="127.0.0.1", host=host), None)
    assert verdict is Verdict.NOT_LOOPBACK_NAME
    assert verdict.status == 403


def test_with_a_token_the_host_does_not_matter() -> None:
    sent = Credentials(authorization=f"Bearer {TOKEN}", peer="127.0.0.1", host="crm.example:443")
    assert decide(sent, TOKEN) is Verdict.ALLOWED


async def test_the_middleware_refuses_a_rebound_host_and_says_how_to_reach_the_history() -> None:
    app = _app(None)
    refused = await _answer(app, "/events", "127.0.0.1", {"Host": "rebind.attacker.example"})
    assert refused.status == 403
    assert isinstance(refused, web.Response) and refused.body is not None
    assert b"localhost" in bytes(refused.body)  # type: ignore[arg-type]
    allowed = await _answer(app, "/events", "127.0.0.1", {"Host": "localhost:8081"})
    assert allowed.status == 200
    assert (await _answer(app, "/healthz", "127.0.0.1", {"Host": "evil.example"})).status == 200
