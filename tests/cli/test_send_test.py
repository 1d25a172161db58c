"""``signdeal send-test`` end to end: in-process ingest and crm_writer, real broker, sandbox."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import orjson
import pytest

from sandbox.rdstation.server import SandboxServer
from tests.cli.conftest import WEBHOOK_SECRET, RunCli, RunningServices, command_lines

pytestmark = pytest.mark.usefixtures("env")


@pytest.fixture
def secret(env: pytest.MonkeyPatch) -> str:
    env.setenv("CLICKSIGN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    return WEBHOOK_SECRET


def targets(services: RunningServices) -> list[str]:
    return ["--url", services.webhook_url, "--history-url", services.crm_writer_url]


@pytest.mark.usefixtures("secret")
async def test_sign_webhook_is_followed_to_a_deal_in_the_sandbox(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer
) -> None:
    result = await signdeal("send-test", *targets(services), "--timeout", "20")

    assert result.code == 0, result.out + result.err
    deal_id = re.search(r"^deal id: (\w+)$", result.out, re.MULTILINE)
    assert deal_id is not None, result.out
    deal = rd.state.deal(deal_id.group(1))
    assert deal is not None
    assert "ingest accepted it (HTTP 202); event id: " in result.out
    assert "done: deal created" in result.out
    assert f"deal:    {rd.root_url}/__sandbox/deals/{deal.id}" in result.out
    assert "done: deal created in " in result.out
    assert f'in RD Station: "{deal.name}" in stage "Sem contato"' in result.out
    assert "contacts: João Pedro Araújo <joao.araujo@example.com>" in result.out


@pytest.mark.usefixtures("secret")
async def test_json_report_of_a_finished_document(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer
) -> None:
    result = await signdeal(
        "send-test", *targets(services), "--event", "auto_close", "--signers", "3", "--json"
    )

    report = orjson.loads(result.out)
    assert result.code == 0
    assert report["status"] == "done"
    assert report["outcome"] == "created"
    assert report["http_status"] == 202
    assert len(report["deal"]["contacts"]) == 3
    assert rd.state.deal(report["deal_id"]) is not None
    async with aiohttp.ClientSession() as session, session.get(report["deal_url"]) as page:
        assert page.status == 200
        opened = await page.json()
    assert opened["deal"]["id"] == report["deal_id"]
    assert len(opened["contacts"]) == 3


@pytest.mark.usefixtures("secret")
async def test_a_retried_event_says_how_many_retries_and_how_long_in_all(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer
) -> None:
    rd.faults.fail_next(1, status=503, method="POST", path_prefix="/deals")

    result = await signdeal("send-test", *targets(services), "--timeout", "30")

    assert result.code == 0, result.out + result.err
    done = re.search(r"^done: deal created after 1 retry \((\d+\.\d) s\)$", result.out, re.M)
    assert done is not None, result.out
    assert float(done.group(1)) >= 5.0  # the first retry tier waits 5 s


@pytest.mark.usefixtures("secret")
async def test_event_that_is_not_a_trigger_is_dropped_as_configured(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer
) -> None:
    result = await signdeal("send-test", *targets(services), "--event", "add_signer")

    assert result.code == 0
    assert "'add_signer' is not one of its trigger events" in result.out
    assert rd.state.deals == []


async def test_wrong_secret_is_refused_by_ingest(
    signdeal: RunCli, services: RunningServices, env: pytest.MonkeyPatch
) -> None:
    env.setenv("CLICKSIGN_WEBHOOK_SECRET", "not-the-secret")

    result = await signdeal("send-test", *targets(services))

    assert result.code == 1
    assert "ingest refused it: HTTP 401" in result.err
    assert "not a secret that ingest accepts" in result.err


async def test_missing_secret_is_a_configuration_error_with_a_hint(signdeal: RunCli) -> None:
    result = await signdeal("send-test")

    assert result.code == 2
    assert "CLICKSIGN_WEBHOOK_SECRET is not set" in result.err
    assert "export CLICKSIGN_WEBHOOK_SECRET=" in result.err


@pytest.mark.usefixtures("secret")
async def test_ingest_not_running(signdeal: RunCli, env: pytest.MonkeyPatch) -> None:
    env.setenv("INGEST_PORT", "1")

    result = await signdeal("send-test")

    assert result.code == 1
    assert "cannot reach ingest at http://127.0.0.1:1/webhooks/clicksign" in result.err


@pytest.mark.usefixtures("secret")
async def test_parked_event_then_replayed_to_done(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer
) -> None:
    rd.faults.reject_deal_creation("Campo obrigatório: Tipo de contrato", "deal_custom_fields")

    parked = await signdeal("send-test", *targets(services), "--json")

    report = orjson.loads(parked.out)
    assert parked.code == 1
    assert report["status"] == "parked"
    assert "Campo obrigatório" in report["error"]

    rd.faults.clear_deal_rejection()
    replayed = await signdeal("replay", report["event_id"])

    assert replayed.code == 0, replayed.out + replayed.err
    assert "replayed 1 event(s) back to" in replayed.out
    assert report["event_id"] in replayed.out
    shown = await _wait_for_done(signdeal, report["event_id"])
    assert shown["attempts"] == 2
    assert rd.state.deal(shown["deal_id"]) is not None


async def _wait_for_done(signdeal: RunCli, event_id: str) -> dict[str, object]:
    """The replayed copy goes through the queue again; the history says when it is done."""
    for _ in range(80):
        result = await signdeal("history", "show", event_id, "--json")
        record: dict[str, object] = orjson.loads(result.out)
        if record["status"] == "done":
            return record
        await asyncio.sleep(0.25)
    raise AssertionError(f"{event_id} never got done after the replay")


@pytest.mark.usefixtures("secret")
async def test_same_document_again_updates_its_deal(
    signdeal: RunCli, services: RunningServices
) -> None:
    document = "0b6f1c52-7d3e-4a8e-9c21-5f0a7e2d9b44"

    first = orjson.loads(
        (await signdeal("send-test", *targets(services), "--document", document, "--json")).out
    )
    closed = orjson.loads(
        (
            await signdeal(
                "send-test",
                *targets(services),
                "--document",
                document,
                "--event",
                "auto_close",
                "--json",
            )
        ).out
    )

    assert (first["outcome"], closed["outcome"]) == ("created", "updated")
    assert closed["deal_id"] == first["deal_id"]


@pytest.mark.usefixtures("secret")
async def test_folder_and_metadata_reach_the_history(
    signdeal: RunCli, services: RunningServices
) -> None:
    sent = await signdeal(
        "send-test",
        *targets(services),
        "--folder",
        "/Parcerias/",
        "--filename",
        "acordo.pdf",
        "--metadata",
        "area=comercial",
        "--json",
    )
    event_id = orjson.loads(sent.out)["event_id"]

    shown = orjson.loads((await signdeal("history", "show", event_id, "--json")).out)

    document = shown["payload"]["document"]
    assert document["path"] == "/Parcerias/acordo.pdf"
    assert document["metadata"] == {"area": "comercial"}


async def test_metadata_must_be_key_value(signdeal: RunCli) -> None:
    result = await signdeal("send-test", "--metadata", "just-a-word")

    assert result.code == 2
    assert "is not KEY=VALUE" in result.err


@pytest.mark.usefixtures("secret")
async def test_thin_finalisation_is_completed_from_clicksign_and_followed_to_its_deal(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer
) -> None:
    result = await signdeal(
        "send-test", *targets(services), "--thin", "--signers", "2", "--timeout", "20"
    )

    assert result.code == 0, result.out + result.err
    assert "registered document" in result.out
    assert "sending 'auto_close'" in result.out
    [deal] = rd.state.deals
    assert deal.name.startswith("Contrato de Prestação de Serviços.pdf - ")
    assert len(rd.state.contacts_of_deal(deal.id)) == 2
    assert "Clicksign's API: 1 call(s); completed from Clicksign's API 1.0" in result.out
    [sent] = [record for record in rd.clicksign.requests.records]
    assert sent.path.startswith("/api/v1/documents/")


@pytest.mark.usefixtures("secret")
async def test_thin_from_make_runs_second_terminal_uses_the_sandbox(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer, env: pytest.MonkeyPatch
) -> None:
    """make run gives crm_writer the sandbox's Clicksign token; the shell sending has none."""
    env.delenv("CLICKSIGN_ACCESS_TOKEN")
    env.delenv("CLICKSIGN_API_BASE_URL")

    result = await signdeal("send-test", *targets(services), "--thin", "--timeout", "20")

    assert result.code == 0, result.out + result.err
    assert f"registered document {rd.clicksign.state.documents[0].key}" in result.out
    assert "Clicksign's API: 1 call(s); completed from Clicksign's API 1.0" in result.out


@pytest.mark.usefixtures("secret")
async def test_thin_against_a_real_rd_account_needs_a_clicksign_token(
    signdeal: RunCli, services: RunningServices, rd: SandboxServer, env: pytest.MonkeyPatch
) -> None:
    env.delenv("CLICKSIGN_ACCESS_TOKEN")
    env.setenv("RDSTATION_CRM_TOKEN", rd.token)
    env.setenv("RDSTATION_CRM_BASE_URL", rd.url)
    env.setenv("RDSTATION_DEAL_STAGE_ID", rd.state.default_stage_id)

    result = await signdeal("send-test", *targets(services), "--thin")

    assert result.code == 2
    assert "neither CLICKSIGN_ACCESS_TOKEN nor the RD sandbox" in result.err


HISTORY_TOKEN = "send-test-history-token-0123456789"


@pytest.mark.parametrize("writer_api_token", [HISTORY_TOKEN], ids=["token"])
@pytest.mark.usefixtures("secret")
async def test_the_history_is_followed_with_the_token_crm_writer_wants(
    signdeal: RunCli, services: RunningServices, env: pytest.MonkeyPatch
) -> None:
    without = await signdeal("send-test", *targets(services), "--timeout", "20")
    env.setenv("CRM_WRITER_API_TOKEN", HISTORY_TOKEN)
    with_token = await signdeal("send-test", *targets(services), "--timeout", "20")

    assert without.code == 1
    (line,) = command_lines(without.err)
    assert "answered 401" in line
    assert "set CRM_WRITER_API_TOKEN" in line
    assert with_token.code == 0, with_token.out + with_token.err
    assert "done: deal created" in with_token.out
    assert HISTORY_TOKEN not in with_token.out + with_token.err
