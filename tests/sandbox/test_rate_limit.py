"""RD's request budget: N requests per token in a rolling window, then 429 with RD's body."""

from __future__ import annotations

import pytest

from sandbox.rdstation import SandboxConfig, SandboxServer
from sandbox.rolling_window import RollingWindowLimiter
from tests.sandbox.caller import OTHER_TOKEN, RdCaller

RATE_LIMITED = {
    "errors": {"error_type": "RATE_LIMIT_EXCEDDED", "error_message": "API usage limit exceeded"}
}


# The sandbox of these tests allows five requests per token and window.
limit_of_five = pytest.mark.parametrize(
    "sandbox_config",
    [SandboxConfig(tokens=("sandbox-token", OTHER_TOKEN), rate_limit=5, access_log=False)],
    ids=["limit-5"],
)


@limit_of_five
async def test_requests_over_the_limit_get_rds_429(api: RdCaller) -> None:
    statuses = [(await api.get("/deals")).status for _ in range(5)]
    over = await api.post("/deals", {"deal": {"name": "Contrato"}})
    assert statuses == [200] * 5
    assert over.status == 429
    assert over.json == RATE_LIMITED
    assert "Retry-After" not in over.headers


@limit_of_five
async def test_refused_requests_change_nothing(api: RdCaller, sandbox: SandboxServer) -> None:
    for _ in range(5):
        await api.get("/users")
    assert (await api.post("/deals", {"deal": {"name": "Contrato"}})).status == 429
    assert sandbox.state.deals == []


@limit_of_five
async def test_the_limit_is_per_token(api: RdCaller) -> None:
    for _ in range(6):
        await api.get("/users")
    assert (await api.call("GET", "/users", token=OTHER_TOKEN)).status == 200


@limit_of_five
async def test_retry_after_header_when_switched_on(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.limiter.configure(limit=2, window_seconds=60, send_retry_after=True)
    for _ in range(2):
        await api.get("/users")
    answer = await api.get("/users")
    assert answer.status == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


@limit_of_five
async def test_no_limit_when_turned_off(api: RdCaller, sandbox: SandboxServer) -> None:
    sandbox.limiter.configure(limit=None, window_seconds=60)
    statuses = {(await api.get("/users")).status for _ in range(10)}
    assert statuses == {200}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_rolls_as_arrivals_age_out() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(3, 60.0, send_retry_after=True, clock=clock)
    for offset in (0.0, 10.0, 20.0):
        clock.now = 1000.0 + offset
        assert limiter.admit("t").allowed
    clock.now = 1030.0
    refused = limiter.admit("t")
    assert not refused.allowed
    assert refused.retry_after_seconds == 40  # the arrival at 1010 leaves the window at 1070
    clock.now = 1070.0
    assert limiter.admit("t").allowed  # 1000 and 1010 have aged out


def test_refused_arrivals_count_too() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(2, 60.0, clock=clock)
    assert limiter.admit("t").allowed
    assert limiter.admit("t").allowed
    clock.now += 30
    assert not limiter.admit("t").allowed
    clock.now += 31  # the first two are gone, the refused one is still in the window
    assert limiter.admit("t").allowed
    assert not limiter.admit("t").allowed
