"""``signdeal check``: all green against the sandbox, and a precise reason for each failure."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import orjson
import pytest

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.store import open_store
from services.crm_writer.store.base import opened
from shared.topology import Topology
from tests.cli.conftest import WEBHOOK_SECRET, RunCli
from tests.clicksign_events import minimal_event

pytestmark = pytest.mark.usefixtures("env")

FAILED = "✗"


@pytest.fixture
def fully_configured(env: pytest.MonkeyPatch, rd: SandboxServer) -> pytest.MonkeyPatch:
    ids = rd.state.ids
    env.setenv("RDSTATION_DEAL_STAGE_ID", ids.awaiting_signature_stage_id)
    env.setenv("RDSTATION_DEAL_OWNER_ID", ids.second_user_id)
    env.setenv("RDSTATION_DOCUMENT_KEY_FIELD_ID", ids.document_key_field_id)
    env.setenv("CLICKSIGN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    return env


def verdicts(output: str) -> dict[str, dict[str, str]]:
    report = orjson.loads(output)
    return {check["check"]: check for check in report["checks"]}


@pytest.mark.usefixtures("fully_configured", "declared_topology")
async def test_everything_configured_passes_and_says_it_is_the_sandbox(signdeal: RunCli) -> None:
    result = await signdeal("check")

    assert result.code == 0, result.out
    assert "SANDBOX MODE" in result.out
    assert FAILED not in result.out
    assert "Ana Paula Souza <ana.souza@acme.example>" in result.out
    assert '"Em assinatura"' in result.out
    assert 'pipeline "Funil de Vendas"' in result.out
    assert "Bruno Lima" in result.out
    assert '"Chave do documento Clicksign"' in result.out
    assert "crm_writer.deals declared" in result.out


@pytest.mark.usefixtures("fully_configured", "declared_topology")
async def test_json_report_lists_every_check(signdeal: RunCli, sqlite_store_url: str) -> None:
    result = await signdeal("check", "--json")

    report = orjson.loads(result.out)
    assert result.code == 0
    assert report["ok"] is True
    assert report["sandbox"] is True
    checks = {check["check"]: check["status"] for check in report["checks"]}
    assert checks == {
        "configuration": "ok",
        "mapping file": "skip",
        "ingest configuration": "ok",
        "RD token": "ok",
        "deal stage": "ok",
        "deal owner": "ok",
        "document-key field": "ok",
        "required deal fields": "ok",
        "Clicksign token": "ok",
        "broker": "ok",
        # Declared, but no crm_writer consumes it in this test.
        "AMQP topology": "warn",
        "store": "ok",
    }


async def test_refused_token_fails_and_skips_what_needs_it(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer
) -> None:
    env.setenv("RDSTATION_CRM_TOKEN", "not-the-token")
    env.setenv("RDSTATION_CRM_BASE_URL", rd.url)
    env.setenv("RDSTATION_DEAL_STAGE_ID", rd.state.ids.awaiting_signature_stage_id)

    result = await signdeal("check", "--json")

    checks = verdicts(result.out)
    assert result.code == 1
    assert checks["RD token"]["status"] == "fail"
    assert "refused RDSTATION_CRM_TOKEN" in checks["RD token"]["detail"]
    assert "Permission denied" in checks["RD token"]["detail"]
    assert checks["deal stage"]["status"] == "skip"
    assert "not-the-token" not in result.out


async def test_unknown_stage_fails_with_the_reason_in_the_table(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("RDSTATION_DEAL_STAGE_ID", "0" * 24)

    result = await signdeal("check")

    assert result.code == 1
    line = next(line for line in result.out.splitlines() if "deal stage" in line)
    assert line.startswith(FAILED)
    assert f"RDSTATION_DEAL_STAGE_ID {'0' * 24} is not a stage" in line
    assert "1 check(s) failed" in result.out


async def test_unknown_owner_fails(signdeal: RunCli, env: pytest.MonkeyPatch) -> None:
    env.setenv("RDSTATION_DEAL_OWNER_ID", "1" * 24)

    result = await signdeal("check", "--json")

    assert result.code == 1
    assert "is not a user of this account" in verdicts(result.out)["deal owner"]["detail"]


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("signed_on_field_id", "is a date field; the document key needs a text field"),
        ("cpf_field_id", "is a contact field; it must be a deal field"),
    ],
)
async def test_document_key_field_must_be_a_deal_text_field(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer, field: str, reason: str
) -> None:
    env.setenv("RDSTATION_DOCUMENT_KEY_FIELD_ID", getattr(rd.state.ids, field))

    result = await signdeal("check", "--json")

    assert result.code == 1
    assert reason in verdicts(result.out)["document-key field"]["detail"]


async def test_a_deal_field_rd_requires_and_signdeal_leaves_empty_fails(
    signdeal: RunCli, rd: SandboxServer
) -> None:
    rd.state.add_custom_field("Centro de custo", "text", "deal", required=True)

    result = await signdeal("check", "--json")

    assert result.code == 1
    detail = verdicts(result.out)["required deal fields"]["detail"]
    assert '"Centro de custo"' in detail


async def test_invalid_configuration_exits_2_naming_the_variable(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("DEAL_TITLE_TEMPLATE", "{document.title}")

    result = await signdeal("check")

    assert result.code == 2
    assert "DEAL_TITLE_TEMPLATE" in result.out
    assert "unknown placeholder {document.title}" in result.out


async def test_invalid_ingest_configuration_exits_2(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("CLICKSIGN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    env.setenv("CLICKSIGN_TRIGGER_EVENTS", " , ")

    result = await signdeal("check", "--json")

    assert result.code == 2
    assert "CLICKSIGN_TRIGGER_EVENTS" in verdicts(result.out)["ingest configuration"]["detail"]


async def test_unreachable_broker_fails(signdeal: RunCli, env: pytest.MonkeyPatch) -> None:
    env.setenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/")

    result = await signdeal("check", "--json")

    checks = verdicts(result.out)
    assert result.code == 1
    assert checks["broker"]["status"] == "fail"
    assert checks["broker"]["detail"].startswith(
        "AMQP_URL: nothing listens on 127.0.0.1:1: is RabbitMQ running?"
    )
    assert checks["AMQP topology"]["status"] == "skip"


async def test_unreachable_postgres_store_names_store_url(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("STORE_URL", "postgresql://signdeal:pw-4f1e@127.0.0.1:1/signdeal")

    result = await signdeal("check", "--json")

    store = verdicts(result.out)["store"]
    assert result.code == 1
    assert store["status"] == "fail"
    assert store["detail"].startswith("STORE_URL: nothing listens on 127.0.0.1:1: ")
    assert "pw-4f1e" not in result.out


async def test_undeclared_topology_is_a_warning_not_a_failure(
    signdeal: RunCli, topology: Topology
) -> None:
    result = await signdeal("check", "--json")

    topology_check = verdicts(result.out)["AMQP topology"]
    assert result.code == 0
    assert topology_check["status"] == "warn"
    assert f"{topology.work_queue} is not declared yet" in topology_check["detail"]


async def test_unreachable_sandbox_says_how_to_start_it(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("RDSTATION_SANDBOX_URL", "http://127.0.0.1:1/api/v1")

    result = await signdeal("check", "--json")

    assert result.code == 1
    assert "make run" in verdicts(result.out)["RD token"]["detail"]


async def test_postgres_store_answers(
    signdeal: RunCli, env: pytest.MonkeyPatch, postgres_store_url: str
) -> None:
    env.setenv("STORE_URL", postgres_store_url)

    result = await signdeal("check", "--json")

    store = verdicts(result.out)["store"]
    assert store["status"] == "ok"
    assert store["detail"].endswith("answers")


async def test_an_event_nobody_finished_is_a_warning_naming_what_to_look_at(
    signdeal: RunCli, env: pytest.MonkeyPatch, postgres_store_url: str
) -> None:
    env.setenv("STORE_URL", postgres_store_url)
    async with opened(open_store(postgres_store_url)) as store:
        await store.begin_attempt(minimal_event("abandoned"))
    connection = await asyncpg.connect(postgres_store_url)
    try:
        await connection.execute(
            "UPDATE events SET last_attempt_at = last_attempt_at - interval '1 hour'"
        )
    finally:
        await connection.close()

    result = await signdeal("check", "--json")

    store_check = verdicts(result.out)["store"]
    assert store_check["status"] == "warn"
    assert "1 event(s) stuck in 'processing'" in store_check["detail"]
    assert "signdeal history --status processing" in store_check["detail"]


# -- the mapping file -------------------------------------------------------------------------


def mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signdeal.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_mapping_file_stages_and_fields_are_checked_against_rd(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer, tmp_path: Path
) -> None:
    ids = rd.state.ids
    path = mapping_file(
        tmp_path,
        f"""
[deal]
stage_id = "{ids.awaiting_signature_stage_id}"
[deal.stages]
auto_close = "{ids.signed_stage_id}"
[deal.custom_fields]
"{ids.signed_on_field_id}" = "{{event.date}}"
"{ids.contract_type_field_id}" = "Novo cliente"
[contact.custom_fields]
"{ids.cpf_field_id}" = "{{signer.documentation}}"
""",
    )
    env.setenv("SIGNDEAL_CONFIG", str(path))

    result = await signdeal("check", "--json")

    checks = verdicts(result.out)
    assert result.code == 0, result.out
    assert checks["mapping file"]["status"] == "ok"
    assert checks["mapping stages"]["status"] == "ok"
    assert '"Contrato assinado"' in checks["mapping stages"]["detail"]
    assert checks["mapping custom fields"]["status"] == "ok"


async def test_mapping_file_with_unknown_stage_and_bad_field_values_fails(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer, tmp_path: Path
) -> None:
    ids = rd.state.ids
    path = mapping_file(
        tmp_path,
        f"""
[deal.stages]
sign = "{"0" * 24}"
[deal.custom_fields]
"{ids.signed_on_field_id}" = "{{document.key}}"
"{ids.contract_type_field_id}" = "Venda"
"{ids.cpf_field_id}" = "{{signer.documentation}}"
""",
    )
    env.setenv("SIGNDEAL_CONFIG", str(path))

    result = await signdeal("check", "--json")

    checks = verdicts(result.out)
    assert result.code == 1
    stages = checks["mapping stages"]["detail"]
    assert f"{path}: deal.stages.sign: {'0' * 24} is not a stage" in stages
    fields = checks["mapping custom fields"]["detail"]
    assert f"deal.custom_fields.{ids.signed_on_field_id}" in fields
    assert "takes DD/MM/YYYY" in fields
    assert "not 'Venda'" in fields
    assert '"CPF" is a contact field, not a deal field' in fields


async def test_invalid_mapping_file_exits_2_naming_file_and_key(
    signdeal: RunCli, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = mapping_file(tmp_path, '[deal]\ntitle = "{document.nope}"\n')
    env.setenv("SIGNDEAL_CONFIG", str(path))

    result = await signdeal("check")

    assert result.code == 2
    assert f"{path}: `title` in [deal]: unknown placeholder {{document.nope}}" in result.out


async def test_sample_document_that_no_rule_takes_is_reported(
    signdeal: RunCli, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = mapping_file(tmp_path, '[[rules]]\nname = "Parcerias"\nfolder = "/Parcerias/"\n')
    env.setenv("SIGNDEAL_CONFIG", str(path))

    result = await signdeal("check", "--json")

    detail = verdicts(result.out)["configuration"]["detail"]
    assert "a sample document in /Contratos/" in detail
    assert "makes no deal: the document matches no rule" in detail


async def test_unset_clicksign_token_warns_that_thin_events_will_not_be_completed(
    signdeal: RunCli, env: pytest.MonkeyPatch, rd: SandboxServer
) -> None:
    env.delenv("CLICKSIGN_ACCESS_TOKEN")
    env.setenv("RDSTATION_CRM_TOKEN", rd.token)
    env.setenv("RDSTATION_CRM_BASE_URL", rd.url)
    env.setenv("RDSTATION_DEAL_STAGE_ID", rd.state.default_stage_id)

    result = await signdeal("check", "--json")

    check = verdicts(result.out)["Clicksign token"]
    assert check["status"] == "warn"
    assert check["detail"].startswith("not set: thin events will not be completed")


async def test_in_make_runs_second_terminal_an_unset_clicksign_token_is_no_warning(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.delenv("CLICKSIGN_ACCESS_TOKEN")

    result = await signdeal("check", "--json")

    check = verdicts(result.out)["Clicksign token"]
    assert check["status"] == "skip"
    assert check["detail"].startswith("not set here: `make run` gives crm_writer the sandbox's")


async def test_refused_clicksign_token_fails_with_each_apis_reason(
    signdeal: RunCli, env: pytest.MonkeyPatch
) -> None:
    env.setenv("CLICKSIGN_ACCESS_TOKEN", "revoked-clicksign-token")

    result = await signdeal("check")

    assert result.code == 1
    line = next(line for line in result.out.splitlines() if "Clicksign token" in line)
    assert FAILED in line
    assert "Access Token inválido" in line
    assert "Configurações → API" in line
    assert "revoked-clicksign-token" not in result.out + result.err


async def test_accepted_clicksign_token_names_the_account(
    signdeal: RunCli, rd: SandboxServer
) -> None:
    result = await signdeal("check", "--json")

    check = verdicts(result.out)["Clicksign token"]
    assert check["status"] == "ok"
    account = 'for account "Conta sandbox signdeal"'
    assert check["detail"] == f"accepted by API 1.0 and API 3.0 {account} at {rd.clicksign_url}"
