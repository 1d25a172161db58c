"""crm_writer's history behind CRM_WRITER_API_TOKEN, through the real app on real sockets.

A non-loopback client is this machine calling itself on a non-loopback address of its own (the
socket's peer is then that address); without one, those tests are skipped (the decision itself is
covered in tests/unit/test_history_access.py with made-up peers).
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.crm_writer.conftest import StartClient

TOKEN = "history-token-for-the-tests-0123456789"
OPEN_PATHS = ("/healthz", "/readyz", "/metrics")


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (the one its default route uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    # Judged here without the code under test, so a broken is_loopback cannot skip these tests.
    usable = not (
        ipaddress.ip_address(address).is_loopback or ipaddress.ip_address(address).is_unspecified
    )
    return address if usable else None


@pytest.fixture
def remote_host() -> str:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to call itself on")
    return address


async def test_without_a_token_loopback_clients_read_the_history(start_client: StartClient) -> None:
    client = await start_client()

    assert (await client.get("/events")).status == 200
    assert (await client.get("/events/unknown")).status == 404


async def test_without_a_token_other_clients_are_refused_with_what_to_set(
    start_client: StartClient, remote_host: str
) -> None:
    client = await start_client(host=remote_host)

    for path in ("/events", "/events/unknown", "/"):
        answer = await client.get(path, headers={"X-Forwarded-For": "127.0.0.1"})
        assert answer.status == 403, path
        assert "CRM_WRITER_API_TOKEN" in (await answer.json())["error"]
    for path in OPEN_PATHS:
        assert (await client.get(path)).status not in (401, 403), path


async def test_with_a_token_every_client_must_present_it(
    start_client: StartClient,
) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    missing = await client.get("/events")
    wrong = await client.get("/events", headers={"Authorization": f"Bearer {TOKEN}x"})
    right = await client.get("/events", headers={"Authorization": f"Bearer {TOKEN}"})

    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "CRM_WRITER_API_TOKEN" in (await missing.json())["error"]
    assert wrong.status == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert right.status == 200
    assert await right.json() == {"events": []}


async def test_a_token_in_the_query_string_is_refused(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    for name in ("token", "access_token"):
        answer = await client.get("/events", params={name: TOKEN})
        assert answer.status == 401
        assert "query string" in (await answer.json())["error"]


async def test_with_a_token_probes_and_metrics_stay_open(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    for path in OPEN_PATHS:
        assert (await client.get(path)).status not in (401, 403), path
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/metrics")).status == 200


async def test_routes_nobody_listed_as_open_are_protected(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    assert (await client.get("/no-such-page")).status == 401
    assert (await client.post("/events")).status == 401
    # The history page sends a browser to its login form instead.
    page = await client.get("/", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/login")


async def test_with_a_token_other_hosts_are_answered_when_they_present_it(
    start_client: StartClient, remote_host: str
) -> None:
    client = await start_client(crm_writer_api_token=TOKEN, host=remote_host)

    assert (await client.get("/events")).status == 401
    answer = await client.get("/events", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200
