"""Token, users, pipelines, stages and custom fields: the account a client reads at start-up."""

from __future__ import annotations

from sandbox.rdstation import SandboxConfig, SandboxServer
from tests.sandbox.caller import OTHER_TOKEN, RdCaller


async def test_missing_token_is_permission_denied(api: RdCaller) -> None:
    answer = await api.call("GET", "/deals", token=None)
    assert answer.status == 401
    assert answer.json == {"error": "Permission denied."}


async def test_unknown_token_is_permission_denied(api: RdCaller) -> None:
    answer = await api.call("GET", "/token/check", token="not-a-token")
    assert answer.status == 401
    assert answer.json == {"error": "Permission denied."}


async def test_every_configured_token_is_accepted(api: RdCaller) -> None:
    answer = await api.call("GET", "/token/check", token=OTHER_TOKEN)
    assert answer.status == 200


async def test_token_check_names_the_token_owner(api: RdCaller, sandbox: SandboxServer) -> None:
    answer = await api.get("/token/check")
    assert answer.status == 200
    assert answer.json == {
        "email": sandbox.state.owner.email,
        "name": sandbox.state.owner.name,
        "organization": sandbox.state.organization_name,
    }


async def test_users_are_wrapped_and_carry_both_ids(api: RdCaller, sandbox: SandboxServer) -> None:
    users = (await api.get("/users")).json["users"]
    assert [user["id"] for user in users] == [
        sandbox.state.ids.owner_user_id,
        sandbox.state.ids.second_user_id,
    ]
    assert all(user["_id"] == user["id"] for user in users)
    assert {"name", "email", "active", "hidden", "last_login", "created_at"} <= users[0].keys()
    one = await api.get(f"/users/{sandbox.state.ids.second_user_id}")
    assert one.json["name"] == "Bruno Lima"


async def test_pipelines_come_as_a_bare_array_with_their_stages(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    pipelines = (await api.get("/deal_pipelines")).json
    assert isinstance(pipelines, list)
    assert [p["name"] for p in pipelines] == ["Funil de Vendas", "Parcerias"]
    stage_names = [stage["name"] for stage in pipelines[0]["deal_stages"]]
    assert "Em assinatura" in stage_names
    assert "Contrato assinado" in stage_names
    one = await api.get(f"/deal_pipelines/{sandbox.state.ids.partnerships_pipeline_id}")
    assert one.json["name"] == "Parcerias"


async def test_stages_of_a_pipeline(api: RdCaller, sandbox: SandboxServer) -> None:
    pipeline_id = sandbox.state.ids.partnerships_pipeline_id
    answer = (await api.get("/deal_stages", deal_pipeline_id=pipeline_id)).json
    assert answer["total"] == 3
    assert answer["has_more"] is False
    assert {stage["deal_pipeline"]["id"] for stage in answer["deal_stages"]} == {pipeline_id}
    assert answer["deal_stages"][0]["deal_pipeline"]["name"] == "Parcerias"


async def test_unknown_pipeline_lists_the_default_pipeline_stages(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    answer = (await api.get("/deal_stages", deal_pipeline_id="000000000000000000000000")).json
    first = answer["deal_stages"][0]
    assert first["id"] == sandbox.state.default_stage_id
    assert first["deal_pipeline"]["id"] == sandbox.state.ids.sales_pipeline_id


async def test_stage_pages_hold_at_most_twelve(api: RdCaller) -> None:
    answer = (await api.get("/deal_stages", limit="50", page="1")).json
    assert len(answer["deal_stages"]) == 5
    two = (await api.get("/deal_stages", limit="2", page="2")).json
    assert [stage["order"] for stage in two["deal_stages"]] == [3, 4]
    assert two["has_more"] is True


async def test_one_stage_by_id(api: RdCaller, sandbox: SandboxServer) -> None:
    answer = await api.get(f"/deal_stages/{sandbox.state.ids.signed_stage_id}")
    assert answer.json["name"] == "Contrato assinado"


async def test_custom_fields_come_as_a_bare_array_per_owner(api: RdCaller) -> None:
    deal_fields = (await api.get("/custom_fields", **{"for": "deal"})).json
    contact_fields = (await api.get("/custom_fields", **{"for": "contact"})).json
    assert {f["label"]: f["type"] for f in deal_fields} == {
        "Chave do documento Clicksign": "text",
        "Data de assinatura": "date",
        "Tipo de contrato": "option",
    }
    assert [(f["label"], f["unique"]) for f in contact_fields] == [("CPF", True)]
    assert {"_id", "opts", "order", "required", "visible", "allow_new"} <= deal_fields[0].keys()


async def test_same_seed_gives_the_same_ids() -> None:
    config = SandboxConfig(seed="demo", access_log=False)
    async with SandboxServer(config) as first, SandboxServer(config) as second:
        assert first.state.ids == second.state.ids
    async with SandboxServer(SandboxConfig(seed="other", access_log=False)) as third:
        assert third.state.ids != first.state.ids


async def test_page_that_is_not_a_number_is_an_html_500(api: RdCaller) -> None:
    answer = await api.get("/contacts", page="two")
    assert answer.status == 500
    assert answer.content_type == "text/html"
