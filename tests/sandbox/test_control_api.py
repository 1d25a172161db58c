"""The ``/__sandbox`` control API, for processes that cannot reach ``rd.faults``: no token."""

from __future__ import annotations

import pytest

from sandbox.rdstation import SandboxServer
from tests.sandbox.caller import RdCaller, create_deal


async def test_state_shows_deals_contacts_counts_and_ids(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    body = {
        "deal": {"name": "Contrato ACME"},
        "contacts": [{"name": "Maria Silva", "emails": [{"email": "maria@acme.com.br"}]}],
    }
    await api.post("/deals", body)
    state = (await api.control("GET", "/state")).json
    assert state["counts"]["deals"] == 1
    assert state["counts"]["contacts"] == 1
    assert state["deals"][0]["name"] == "Contrato ACME"
    assert state["deals"][0]["contact_ids"] == [state["contacts"][0]["id"]]
    assert state["ids"]["default_stage_id"] == sandbox.state.default_stage_id
    assert state["ids"]["signed_stage_id"] == sandbox.state.ids.signed_stage_id


async def test_a_deal_page_opens_without_a_token(api: RdCaller) -> None:
    body = {
        "deal": {"name": "Contrato ACME"},
        "contacts": [{"name": "Maria Silva", "emails": [{"email": "maria@acme.com.br"}]}],
    }
    deal = (await api.post("/deals", body)).json

    page = await api.control("GET", f"/deals/{deal['id']}")
    missing = await api.control("GET", "/deals/5f0000000000000000000000")

    assert page.status == 200
    assert page.json["deal"]["name"] == "Contrato ACME"
    assert page.json["deal"]["deal_stage"]["name"] == "Sem contato"
    assert [contact["name"] for contact in page.json["contacts"]] == ["Maria Silva"]
    assert missing.status == 404
    assert "no deal 5f0000000000000000000000" in missing.json["error"]


async def test_request_log_never_holds_the_token(api: RdCaller, sandbox: SandboxServer) -> None:
    await api.get("/deals", name="Contrato", exact_name="true")
    await api.post("/deals", {"deal": {"name": "Contrato"}})
    answer = await api.control("GET", "/requests")
    requests = answer.json["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/api/v1/deals", 200),
        ("POST", "/api/v1/deals", 200),
    ]
    assert requests[0]["query"] == {"name": "Contrato", "exact_name": "true"}
    assert requests[1]["body"] == {"deal": {"name": "Contrato"}}
    assert sandbox.token not in answer.text


async def test_request_log_filters_by_method_and_path(api: RdCaller) -> None:
    await api.get("/users")
    await api.post("/deals", {"deal": {"name": "Contrato"}})
    answer = await api.session.get(
        api.server.control_url + "/requests",
        params={"method": "POST", "path_prefix": "/api/v1/deals"},
    )
    requests = (await answer.json())["requests"]
    assert [r["method"] for r in requests] == ["POST"]


async def test_latency_over_http(api: RdCaller, sandbox: SandboxServer) -> None:
    answer = await api.control("PUT", "/faults/latency", {"ms": 25})
    assert answer.status == 200
    assert answer.json["latency_ms"] == 25
    assert sandbox.faults.latency_ms == 25


async def test_fail_next_over_http(api: RdCaller) -> None:
    armed = await api.control(
        "POST",
        "/faults/fail_next",
        {"count": 2, "status": 500, "method": "GET", "path_prefix": "/deals"},
    )
    assert armed.status == 200
    assert armed.json["fail_next"][0]["remaining"] == 2
    statuses = [(await api.get("/deals")).status for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_hang_over_http_ends_in_504(api: RdCaller) -> None:
    await api.control("POST", "/faults/fail_next", {"hang_seconds": 0.01})
    assert (await api.get("/deals")).status == 504


async def test_deal_rejection_over_http(api: RdCaller) -> None:
    await api.control("PUT", "/faults/reject_deals", {"message": "Recusado"})
    refused = await api.post("/deals", {"deal": {"name": "Contrato"}})
    assert (refused.status, refused.json) == (422, {"errors": {"base": ["Recusado"]}})
    await api.control("DELETE", "/faults/reject_deals")
    assert (await api.post("/deals", {"deal": {"name": "Contrato"}})).status == 200


async def test_rate_limit_over_http(api: RdCaller) -> None:
    answer = await api.control(
        "PUT", "/rate_limit", {"limit": 1, "window_seconds": 60, "retry_after_header": True}
    )
    assert answer.json == {"limit": 1, "window_seconds": 60.0, "retry_after_header": True}
    assert (await api.get("/users")).status == 200
    limited = await api.get("/users")
    assert limited.status == 429
    assert "Retry-After" in limited.headers


async def test_clearing_faults_over_http(api: RdCaller) -> None:
    await api.control("POST", "/faults/fail_next", {"count": 5, "status": 503})
    await api.control("PUT", "/faults/latency", {"ms": 10})
    cleared = await api.control("DELETE", "/faults")
    assert cleared.json == {"latency_ms": 0, "fail_next": [], "deal_rejection": None}
    assert (await api.get("/users")).status == 200


async def test_reset_over_http(api: RdCaller, sandbox: SandboxServer) -> None:
    await create_deal(api)
    await api.control("POST", "/faults/fail_next", {"count": 5, "status": 503, "path_prefix": "/x"})
    assert (await api.control("POST", "/reset")).status == 200
    state = (await api.control("GET", "/state")).json
    assert state["counts"] == {"deals": 0, "contacts": 0, "users": 2, "requests": 0}
    assert state["faults"]["fail_next"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/faults/latency", {"ms": -1}),
        ("/faults/latency", {"milliseconds": 5}),
        ("/faults/fail_next", {"status": 418}),
        ("/faults/fail_next", {"count": 0}),
    ],
)
async def test_invalid_control_requests_are_refused(api: RdCaller, path: str, body: object) -> None:
    method = "PUT" if path.endswith("latency") else "POST"
    answer = await api.control(method, path, body)
    assert answer.status == 400
    assert answer.json["error"] == "invalid control request"


async def test_control_requests_stay_out_of_the_request_log(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    await api.control("GET", "/state")
    await api.control("GET", "/faults")
    assert sandbox.requests.records == []
