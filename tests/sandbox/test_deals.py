"""Deals: create into a stage, search by name, the stage-update quirk, custom field checks."""

from __future__ import annotations

from sandbox.rdstation import SandboxServer
from tests.sandbox.caller import RdCaller, create_contact, create_deal


async def test_deal_created_with_a_stage_lands_in_that_stage(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    stage_id = sandbox.state.ids.awaiting_signature_stage_id
    deal = await create_deal(api, deal_stage_id=stage_id)
    assert deal["deal_stage"]["id"] == stage_id
    assert deal["deal_stage"]["deal_pipeline_id"] == sandbox.state.ids.sales_pipeline_id
    assert deal["deal_pipeline"] == {
        "id": sandbox.state.ids.sales_pipeline_id,
        "name": "Funil de Vendas",
    }
    assert [h["deal_stage_id"] for h in deal["deal_stage_histories"]] == [stage_id]


async def test_deal_without_stage_or_user_goes_to_the_default_stage_and_token_owner(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    deal = await create_deal(api)
    assert deal["deal_stage"]["id"] == sandbox.state.default_stage_id
    assert deal["user"]["id"] == sandbox.state.ids.owner_user_id


async def test_created_deal_has_the_documented_fields(api: RdCaller) -> None:
    deal = await create_deal(api)
    assert deal["_id"] == deal["id"]
    assert len(deal["id"]) == 24
    assert {"amount_montly", "amount_total", "deal_custom_fields", "win", "hold"} <= deal.keys()
    assert deal["created_at"].endswith("-03:00")
    assert "contacts" not in deal


async def test_short_deal_name_is_refused(api: RdCaller) -> None:
    answer = await api.post("/deals", {"deal": {"name": "X"}})
    assert answer.status == 422
    assert "name" in answer.json["errors"]


async def test_unknown_stage_is_refused(api: RdCaller) -> None:
    answer = await api.post(
        "/deals", {"deal": {"name": "Contrato", "deal_stage_id": "000000000000000000000000"}}
    )
    assert answer.status == 422
    assert "deal_stage_id" in answer.json["errors"]


async def test_unknown_user_is_refused(api: RdCaller) -> None:
    answer = await api.post(
        "/deals", {"deal": {"name": "Contrato", "user_id": "000000000000000000000000"}}
    )
    assert answer.status == 422
    assert "user_id" in answer.json["errors"]


async def test_inline_contacts_are_always_new_contacts(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    existing = await create_contact(api, "Maria Silva", "maria@acme.com.br")
    body = {
        "deal": {"name": "Contrato ACME"},
        "contacts": [{"name": "Maria S. Silva", "emails": [{"email": "maria@acme.com.br"}]}],
    }
    deal = (await api.post("/deals", body)).json
    same_email = sandbox.state.contacts_with_email("maria@acme.com.br")
    assert len(same_email) == 2
    linked = (await api.get(f"/deals/{deal['id']}/contacts")).json["contacts"]
    assert [c["id"] for c in linked] != [existing["id"]]
    assert linked[0]["emails"][0]["email"] == "maria@acme.com.br"


async def test_exact_name_search_matches_the_whole_name_only(api: RdCaller) -> None:
    await create_deal(api, "Contrato DOC-1")
    await create_deal(api, "Contrato DOC-10")
    exact = (await api.get("/deals", name="Contrato DOC-1", exact_name="true")).json
    partial = (await api.get("/deals", name="contrato doc-1")).json
    assert [d["name"] for d in exact["deals"]] == ["Contrato DOC-1"]
    assert sorted(d["name"] for d in partial["deals"]) == ["Contrato DOC-1", "Contrato DOC-10"]
    assert partial["total"] == 2
    assert partial["has_more"] is False


async def test_list_items_embed_contacts_without_ids(api: RdCaller) -> None:
    body = {
        "deal": {"name": "Contrato ACME"},
        "contacts": [{"name": "Maria Silva", "emails": [{"email": "maria@acme.com.br"}]}],
    }
    await api.post("/deals", body)
    item = (await api.get("/deals", name="Contrato ACME")).json["deals"][0]
    assert item["contacts"][0]["emails"] == [{"email": "maria@acme.com.br"}]
    assert "_id" not in item["contacts"][0]


async def test_list_filters_by_stage_and_pipeline(api: RdCaller, sandbox: SandboxServer) -> None:
    signed = await create_deal(api, "Contrato 1", deal_stage_id=sandbox.state.ids.signed_stage_id)
    partner_stage = sandbox.state.stage_id("Prospecção", sandbox.state.ids.partnerships_pipeline_id)
    partner = await create_deal(api, "Parceria 1", deal_stage_id=partner_stage)
    by_stage = (await api.get("/deals", deal_stage_id=sandbox.state.ids.signed_stage_id)).json
    by_pipeline = (
        await api.get("/deals", deal_pipeline_id=sandbox.state.ids.partnerships_pipeline_id)
    ).json
    assert [d["id"] for d in by_stage["deals"]] == [signed["id"]]
    assert [d["id"] for d in by_pipeline["deals"]] == [partner["id"]]


async def test_next_page_cursor_walks_the_same_search(api: RdCaller) -> None:
    for number in range(5):
        await create_deal(api, f"Contrato {number}")
    first = (await api.get("/deals", limit="2")).json
    second = (await api.get("/deals", limit="2", next_page=first["next_page"])).json
    third = (await api.get("/deals", limit="2", page="3")).json
    assert [d["name"] for d in first["deals"]] == ["Contrato 4", "Contrato 3"]
    assert [d["name"] for d in second["deals"]] == ["Contrato 2", "Contrato 1"]
    assert [d["name"] for d in third["deals"]] == ["Contrato 0"]
    assert first["has_more"]
    assert not third["has_more"]
    assert first["total"] == 5


async def test_stage_inside_deal_on_update_is_silently_ignored(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    deal = await create_deal(api, deal_stage_id=sandbox.state.ids.awaiting_signature_stage_id)
    body = {"deal": {"deal_stage_id": sandbox.state.ids.signed_stage_id}}
    answer = await api.put(f"/deals/{deal['id']}", body)
    assert answer.status == 200
    assert answer.json["deal_stage"]["id"] == sandbox.state.ids.awaiting_signature_stage_id


async def test_top_level_stage_on_update_moves_the_deal(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    deal = await create_deal(api, deal_stage_id=sandbox.state.ids.awaiting_signature_stage_id)
    answer = await api.put(
        f"/deals/{deal['id']}", {"deal_stage_id": sandbox.state.ids.signed_stage_id}
    )
    moved = answer.json
    assert moved["deal_stage"]["id"] == sandbox.state.ids.signed_stage_id
    histories = moved["deal_stage_histories"]
    assert [h["deal_stage_id"] for h in histories] == [
        sandbox.state.ids.awaiting_signature_stage_id,
        sandbox.state.ids.signed_stage_id,
    ]
    assert histories[0]["end_date"] is not None
    assert histories[1]["end_date"] is None
    fetched = (await api.get(f"/deals/{deal['id']}")).json
    assert fetched["deal_stage"]["id"] == sandbox.state.ids.signed_stage_id


async def test_update_changes_fields_inside_deal(api: RdCaller, sandbox: SandboxServer) -> None:
    deal = await create_deal(api)
    body = {
        "deal": {
            "name": "Contrato renomeado",
            "user_id": sandbox.state.ids.second_user_id,
            "win": True,
        }
    }
    updated = (await api.put(f"/deals/{deal['id']}", body)).json
    assert updated["name"] == "Contrato renomeado"
    assert updated["user"]["id"] == sandbox.state.ids.second_user_id
    assert updated["win"] is True
    assert updated["closed_at"] is not None


async def test_custom_fields_on_update_merge_by_field(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    ids = sandbox.state.ids
    deal = await create_deal(
        api,
        deal_custom_fields=[
            {"custom_field_id": ids.document_key_field_id, "value": "doc-123"},
            {"custom_field_id": ids.signed_on_field_id, "value": "30/05/2025"},
        ],
    )
    body = {
        "deal": {
            "deal_custom_fields": [
                {"custom_field_id": ids.signed_on_field_id, "value": "31/05/2025"}
            ]
        }
    }
    updated = (await api.put(f"/deals/{deal['id']}", body)).json
    values = {v["custom_field_id"]: v["value"] for v in updated["deal_custom_fields"]}
    assert values == {ids.document_key_field_id: "doc-123", ids.signed_on_field_id: "31/05/2025"}
    assert (
        updated["deal_custom_fields"][0]["custom_field"]["label"] == "Chave do documento Clicksign"
    )


async def test_unknown_custom_field_is_a_400_with_rds_sentence(api: RdCaller) -> None:
    body = {
        "deal": {
            "name": "Contrato",
            "deal_custom_fields": [{"custom_field_id": "nope", "value": "x"}],
        }
    }
    answer = await api.post("/deals", body)
    assert answer.status == 400
    assert answer.json == {
        "errors": 'Could not find a custom field that matches: {:custom_field_id=>"nope"}'
    }


async def test_date_custom_field_takes_only_dd_mm_yyyy(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    field_id = sandbox.state.ids.signed_on_field_id
    for bad in ("2025-05-31", "31/02/2025", "31-05-2025"):
        body = {
            "deal": {
                "name": "Contrato",
                "deal_custom_fields": [{"custom_field_id": field_id, "value": bad}],
            }
        }
        answer = await api.post("/deals", body)
        assert answer.status == 422, bad
        assert "deal_custom_fields" in answer.json["errors"]


async def test_option_custom_field_takes_only_its_options(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    field_id = sandbox.state.ids.contract_type_field_id
    good = await create_deal(
        api, deal_custom_fields=[{"custom_field_id": field_id, "value": "Renovação"}]
    )
    assert good["deal_custom_fields"][0]["value"] == "Renovação"
    body = {
        "deal": {
            "name": "Contrato",
            "deal_custom_fields": [{"custom_field_id": field_id, "value": "Outro"}],
        }
    }
    assert (await api.post("/deals", body)).status == 422


async def test_required_custom_field_missing_on_create_is_refused(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    sandbox.state.add_custom_field("Número do contrato", "text", "deal", required=True)
    answer = await api.post("/deals", {"deal": {"name": "Contrato"}})
    assert answer.status == 422
    assert answer.json["errors"]["deal_custom_fields"] == [
        "Número do contrato: não pode ficar em branco"
    ]


async def test_deal_contacts_lists_contacts_linked_from_either_side(api: RdCaller) -> None:
    deal = await create_deal(api)
    contact = await create_contact(api, "Maria Silva", "maria@acme.com.br")
    await api.put(f"/contacts/{contact['id']}", {"contact": {"deal_ids": [deal["id"]]}})
    answer = (await api.get(f"/deals/{deal['id']}/contacts")).json
    assert [c["id"] for c in answer["contacts"]] == [contact["id"]]
    assert answer["total"] == 1
    assert answer["has_more"] is False


async def test_unknown_deal_is_not_found(api: RdCaller) -> None:
    answer = await api.get("/deals/65e5b7c053f61b6a40ffffff")
    assert answer.status == 404
    assert answer.json["errors"]["error_type"] == "RESOURCE_NOT_FOUND"


async def test_products_give_the_deal_its_amounts(api: RdCaller) -> None:
    body = {
        "deal": {"name": "Contrato"},
        "deal_products": [
            {"name": "Licença", "price": 199.91, "amount": 2, "discount": 0},
            {"name": "Suporte", "price": 50, "recurrence": "monthly"},
        ],
    }
    deal = (await api.post("/deals", body)).json
    assert (deal["amount_unique"], deal["amount_montly"], deal["amount_total"]) == (
        399.82,
        50.0,
        449.82,
    )
