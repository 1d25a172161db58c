"""Contacts: search by e-mail, create, update, and the deal links they own."""

from __future__ import annotations

from sandbox.rdstation import SandboxServer
from tests.sandbox.caller import RdCaller, create_contact, create_deal


async def test_search_by_email_ignores_case(api: RdCaller) -> None:
    created = await create_contact(api, "Maria Silva", "Maria.Silva@Acme.com.br")
    await create_contact(api, "João Souza", "joao@acme.com.br")
    answer = (await api.get("/contacts", email="maria.silva@acme.com.br")).json
    assert [c["id"] for c in answer["contacts"]] == [created["id"]]
    assert answer["total"] == 1
    assert answer["has_more"] is False


async def test_search_by_email_is_exact_not_partial(api: RdCaller) -> None:
    await create_contact(api, "Maria Silva", "maria@acme.com.br")
    answer = (await api.get("/contacts", email="maria@acme.com")).json
    assert answer["contacts"] == []


async def test_search_by_name_part(api: RdCaller) -> None:
    await create_contact(api, "Maria Silva", "maria@acme.com.br")
    await create_contact(api, "João Souza", "joao@acme.com.br")
    answer = (await api.get("/contacts", q="silv")).json
    assert [c["name"] for c in answer["contacts"]] == ["Maria Silva"]


async def test_created_contact_comes_back_with_ids_and_deal_ids(api: RdCaller) -> None:
    contact = await create_contact(
        api,
        "Maria Silva",
        "maria@acme.com.br",
        phones=[{"phone": "+5511999990000", "type": "cellphone"}],
    )
    assert contact["_id"] == contact["id"]
    assert len(contact["id"]) == 24
    assert contact["deal_ids"] == []
    assert contact["emails"][0]["email"] == "maria@acme.com.br"
    assert contact["created_at"].endswith("-03:00")
    fetched = (await api.get(f"/contacts/{contact['id']}")).json
    assert fetched["phones"][0]["phone"] == "+5511999990000"


async def test_short_name_is_refused_with_a_field_error(api: RdCaller) -> None:
    answer = await api.post("/contacts", {"contact": {"name": "M"}})
    assert answer.status == 422
    assert list(answer.json["errors"]) == ["name"]


async def test_missing_name_is_refused(api: RdCaller) -> None:
    answer = await api.post("/contacts", {"contact": {"emails": [{"email": "x@y.com"}]}})
    assert answer.status == 422
    assert "name" in answer.json["errors"]


async def test_a_repeated_name_is_refused_with_a_field_error(api: RdCaller) -> None:
    # RD's contact docs: the name "não pode se repetir" (enforcement UNCONFIRMED; strict here).
    await create_contact(api, "Maria Silva", "maria@acme.com.br")
    answer = await api.post(
        "/contacts", {"contact": {"name": "maria silva ", "emails": [{"email": "m2@acme.com"}]}}
    )
    assert answer.status == 422
    assert list(answer.json["errors"]) == ["name"]


async def test_a_contact_may_keep_its_own_name_on_update(api: RdCaller) -> None:
    contact = await create_contact(api, "Maria Silva", "maria@acme.com.br")
    answer = await api.put(f"/contacts/{contact['id']}", {"contact": {"name": "Maria Silva"}})
    assert answer.status == 200


async def test_one_character_texts_are_refused(api: RdCaller) -> None:
    answer = await api.post(
        "/contacts", {"contact": {"name": "Maria Silva", "title": "X", "emails": []}}
    )
    assert answer.status == 422
    assert list(answer.json["errors"]) == ["title"]


async def test_duplicate_emails_are_accepted(api: RdCaller, sandbox: SandboxServer) -> None:
    await create_contact(api, "Maria Silva", "maria@acme.com.br")
    await create_contact(api, "Maria S.", "MARIA@acme.com.br")
    assert len(sandbox.state.contacts_with_email("maria@acme.com.br")) == 2
    answer = (await api.get("/contacts", email="maria@acme.com.br")).json
    assert answer["total"] == 2


async def test_deal_ids_on_update_replace_the_contact_deals(api: RdCaller) -> None:
    first, second = await create_deal(api, "Contrato 1"), await create_deal(api, "Contrato 2")
    contact = await create_contact(api, "Maria Silva", "maria@acme.com.br", deal_ids=[first["id"]])
    answer = await api.put(f"/contacts/{contact['id']}", {"contact": {"deal_ids": [second["id"]]}})
    assert answer.status == 200
    assert answer.json["deal_ids"] == [second["id"]]
    union = [first["id"], second["id"]]
    answer = await api.put(f"/contacts/{contact['id']}", {"contact": {"deal_ids": union}})
    assert answer.json["deal_ids"] == union


async def test_update_leaves_unsent_fields_alone(api: RdCaller) -> None:
    contact = await create_contact(api, "Maria Silva", "maria@acme.com.br", title="Diretora")
    answer = await api.put(f"/contacts/{contact['id']}", {"contact": {"title": "CEO"}})
    assert answer.json["title"] == "CEO"
    assert answer.json["name"] == "Maria Silva"
    assert answer.json["emails"][0]["email"] == "maria@acme.com.br"


async def test_list_items_carry_their_deals(api: RdCaller) -> None:
    deal = await create_deal(api, "Contrato 1")
    await create_contact(api, "Maria Silva", "maria@acme.com.br", deal_ids=[deal["id"]])
    item = (await api.get("/contacts", email="maria@acme.com.br")).json["contacts"][0]
    assert [d["id"] for d in item["deals"]] == [deal["id"]]
    assert item["deals"][0]["win"] is None
    assert "deal_ids" not in item


async def test_unknown_contact_is_lead_not_found(api: RdCaller) -> None:
    not_found = {"errors": {"error_type": "RESOURCE_NOT_FOUND", "error_message": "Lead not found."}}
    answer = await api.get("/contacts/65e5b7c053f61b6a40ffffff")
    assert (answer.status, answer.json) == (404, not_found)
    answer = await api.put("/contacts/65e5b7c053f61b6a40ffffff", {"contact": {"title": "CEO"}})
    assert (answer.status, answer.json) == (404, not_found)


async def test_unique_custom_field_refuses_a_second_holder(
    api: RdCaller, sandbox: SandboxServer
) -> None:
    cpf = [{"custom_field_id": sandbox.state.ids.cpf_field_id, "value": "123.456.789-00"}]
    await create_contact(api, "Maria Silva", "maria@acme.com.br", contact_custom_fields=cpf)
    answer = await api.post(
        "/contacts", {"contact": {"name": "Outra Maria", "contact_custom_fields": cpf}}
    )
    assert answer.status == 422
    assert "contact_custom_fields" in answer.json["errors"]


async def test_unknown_phone_type_is_not_in_the_list(api: RdCaller) -> None:
    body = {"contact": {"name": "Maria Silva", "phones": [{"phone": "119999", "type": "pager"}]}}
    answer = await api.post("/contacts", body)
    assert answer.status == 422
    assert answer.json["errors"] == {"type": ["Não está incluído na lista."]}


async def test_malformed_json_is_a_bad_request(api: RdCaller) -> None:
    async with api.session.post(
        api.server.url + "/contacts", params={"token": api.server.token}, data=b"{not json"
    ) as response:
        assert response.status == 400


async def test_search_follows_an_email_change(api: RdCaller) -> None:
    contact = await create_contact(api, "Maria Silva", "maria@acme.com.br")
    changed = {"contact": {"emails": [{"email": "Maria.Silva@nova.com.br"}]}}
    assert (await api.put(f"/contacts/{contact['id']}", changed)).status == 200

    old = (await api.get("/contacts", email="maria@acme.com.br")).json
    new = (await api.get("/contacts", email="maria.silva@nova.com.br")).json
    assert old["contacts"] == []
    assert [c["id"] for c in new["contacts"]] == [contact["id"]]


async def test_search_by_email_and_name_applies_both(api: RdCaller) -> None:
    await create_contact(api, "Maria Silva", "compras@acme.com.br")
    wanted = await create_contact(api, "João Souza", "compras@acme.com.br")
    answer = (await api.get("/contacts", email="compras@acme.com.br", q="souza")).json
    assert [c["id"] for c in answer["contacts"]] == [wanted["id"]]
