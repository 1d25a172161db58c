"""``signdeal rd …``: the ids an operator needs, as tables and as JSON."""

from __future__ import annotations

import orjson
import pytest

from sandbox.rdstation.server import SandboxServer
from tests.cli.conftest import RunCli

pytestmark = pytest.mark.usefixtures("env")


async def test_pipelines_table_shows_ids_and_stage_names(
    signdeal: RunCli, rd: SandboxServer
) -> None:
    result = await signdeal("rd", "pipelines")

    assert result.code == 0
    assert result.out.splitlines()[0].split() == ["ID", "NAME", "STAGES", "STAGE", "NAMES"]
    sales = next(line for line in result.out.splitlines() if "Funil de Vendas" in line)
    assert sales.startswith(rd.state.ids.sales_pipeline_id)
    assert "Sem contato, Contato feito" in sales
    assert "SANDBOX MODE" in result.err


async def test_pipelines_json_nests_the_stages(signdeal: RunCli, rd: SandboxServer) -> None:
    result = await signdeal("rd", "pipelines", "--json")

    pipelines = orjson.loads(result.out)
    assert [p["name"] for p in pipelines] == ["Funil de Vendas", "Parcerias"]
    assert pipelines[1]["id"] == rd.state.ids.partnerships_pipeline_id
    assert [s["name"] for s in pipelines[1]["stages"]] == [
        "Prospecção",
        "Negociação",
        "Parceria fechada",
    ]


async def test_stages_of_every_pipeline_mark_the_configured_one(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer
) -> None:
    chosen = rd.state.ids.awaiting_signature_stage_id
    env.setenv("RDSTATION_DEAL_STAGE_ID", chosen)

    result = await signdeal("rd", "stages")

    lines = result.out.splitlines()
    assert result.code == 0
    assert len(lines) == 1 + 5 + 3
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1
    assert chosen in marked[0]
    assert "Em assinatura" in marked[0]


async def test_stages_of_one_pipeline_as_json(signdeal: RunCli, rd: SandboxServer) -> None:
    pipeline = rd.state.ids.partnerships_pipeline_id

    result = await signdeal("rd", "stages", "--pipeline", pipeline, "--json")

    stages = orjson.loads(result.out)
    assert [s["name"] for s in stages] == ["Prospecção", "Negociação", "Parceria fechada"]
    assert {s["pipeline_id"] for s in stages} == {pipeline}
    assert all(len(s["id"]) == 24 for s in stages)


async def test_unknown_pipeline_is_not_found(signdeal: RunCli) -> None:
    result = await signdeal("rd", "stages", "--pipeline", "nope")

    assert result.code == 1
    assert "no pipeline nope" in result.err


async def test_users(signdeal: RunCli, rd: SandboxServer) -> None:
    table = await signdeal("rd", "users")
    listed = await signdeal("rd", "users", "--json")

    assert "Bruno Lima" in table.out
    assert "bruno.lima@acme.example" in table.out
    assert orjson.loads(listed.out) == [
        {
            "id": rd.state.ids.owner_user_id,
            "name": "Ana Paula Souza",
            "email": "ana.souza@acme.example",
            "active": True,
        },
        {
            "id": rd.state.ids.second_user_id,
            "name": "Bruno Lima",
            "email": "bruno.lima@acme.example",
            "active": True,
        },
    ]


async def test_custom_fields_for_deals_only(signdeal: RunCli, rd: SandboxServer) -> None:
    result = await signdeal("rd", "custom-fields", "--for", "deal", "--json")

    fields = {f["label"]: f for f in orjson.loads(result.out)}
    assert set(fields) == {"Chave do documento Clicksign", "Data de assinatura", "Tipo de contrato"}
    assert fields["Data de assinatura"]["type"] == "date"
    assert fields["Tipo de contrato"]["options"] == ["Novo cliente", "Renovação", "Aditivo"]
    assert fields["Chave do documento Clicksign"]["id"] == rd.state.ids.document_key_field_id


async def test_custom_fields_table_marks_the_document_key_field(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer
) -> None:
    env.setenv("RDSTATION_DOCUMENT_KEY_FIELD_ID", rd.state.ids.document_key_field_id)

    result = await signdeal("rd", "custom-fields")

    marked = [line for line in result.out.splitlines() if line.startswith("*")]
    assert len(marked) == 1
    assert "Chave do documento Clicksign" in marked[0]
    assert "CPF" in result.out  # contact fields too, without --for


async def test_unreachable_rd_fails_with_the_address(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("RDSTATION_SANDBOX_URL", "http://127.0.0.1:1/api/v1")

    result = await signdeal("rd", "users")

    assert result.code == 1
    assert "RD Station at http://127.0.0.1:1/api/v1" in result.err
    assert "connection failed" in result.err


async def test_bad_configuration_exits_2(signdeal: RunCli, env: pytest.MonkeyPatch) -> None:
    env.setenv("DEAL_TITLE_TEMPLATE", "{document.filenme}")

    result = await signdeal("rd", "pipelines")

    assert result.code == 2
    assert "DEAL_TITLE_TEMPLATE" in result.err


async def test_stages_can_be_listed_with_a_token_before_a_stage_is_chosen(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer
) -> None:
    env.setenv("RDSTATION_CRM_TOKEN", rd.token)
    env.setenv("RDSTATION_CRM_BASE_URL", rd.url)
    env.delenv("RDSTATION_DEAL_STAGE_ID", raising=False)

    result = await signdeal("rd", "stages", "--json")

    assert result.code == 0
    assert rd.state.ids.awaiting_signature_stage_id in result.out
    assert "SANDBOX MODE" not in result.err
