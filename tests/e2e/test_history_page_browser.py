"""The history page in a real browser, against the real services as processes: ingest, crm_writer
(with a history token: the browser signs in) and the RD sandbox.

A signed webhook becomes a deal; the list shows it and its details open. With the sandbox
refusing new deals (422), a second document's event is parked; once the fault is cleared the
details page's Replay button sends it back, and the page shows it done and who replayed it.

Screenshots of the list and the details are taken on every run (in the test's folder); with
``SIGNDEAL_SCREENSHOT_DIR=docs/img`` they are also saved there (the README shows them).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from sandbox.clicksign import SampleSigner, build_webhook, make_signers, post_webhook
from sandbox.rdstation.server import SandboxServer
from shared.topology import Topology
from tests.e2e.browser import Browser, chromium
from tests.service_processes import (
    WEBHOOK_SECRET,
    ProcessGroup,
    ServiceProcess,
    crm_writer_env,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TOKEN = "browser-test-history-token-5a1f"
OPERATOR = "Operadora Ana"
SCREENSHOT_DIR = "SIGNDEAL_SCREENSHOT_DIR"
PAGE_SECONDS = 30.0


@pytest_asyncio.fixture
async def crm_writer(
    processes: ProcessGroup,
    amqp_url: str,
    service_topology: Topology,
    rd: SandboxServer,
    tmp_path: Path,
) -> ServiceProcess:
    port = free_port()
    env = crm_writer_env(
        amqp_url=amqp_url,
        topology=service_topology,
        port=port,
        store_url=f"sqlite:///{tmp_path}/signdeal.db",
        rd_url=rd.url,
        CRM_WRITER_API_TOKEN=TOKEN,
    )
    service = await processes.start("crm_writer", "services.crm_writer", env, port)
    await service.wait_until_ready()
    return service


@pytest_asyncio.fixture
async def browser(crm_writer: ServiceProcess, tmp_path: Path) -> AsyncIterator[Browser]:
    async with chromium(crm_writer.base_url, tmp_path / "chromium-profile") as window:
        yield window


async def send_sign(ingest: ServiceProcess, signer: SampleSigner, filename: str) -> str:
    body = build_webhook(
        "sign", document_key=str(uuid.uuid4()), signers=[signer], filename=filename
    )
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign", body, WEBHOOK_SECRET
    )
    assert status == 202, answer
    return str(answer["event_id"])


async def wait_for_status(crm_writer: ServiceProcess, event_id: str, status: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def reached() -> bool:
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(f"{crm_writer.base_url}/events/{event_id}") as answer,
        ):
            return answer.status == 200 and (await answer.json())["status"] == status

    await wait_until(reached, f"event {event_id} to be {status}")


async def until_page_shows(browser: Browser, path: str, text: str) -> None:
    """Reload ``path`` until its page shows ``text`` (what a person does, or the auto-refresh)."""

    async def shown() -> bool:
        await browser.open(path)
        return text in await browser.text()

    await wait_until(shown, f"{path} to show {text!r}", timeout=PAGE_SECONDS)


async def screenshot(browser: Browser, tmp_path: Path, name: str) -> None:
    taken = tmp_path / name
    await browser.screenshot(taken)
    assert taken.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wanted = os.environ.get(SCREENSHOT_DIR)
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(taken, Path(wanted) / name)


async def sign_in(browser: Browser) -> None:
    await browser.open("/")
    assert browser.path == "/login"
    await browser.type_into("input[name=name]", OPERATOR)
    await browser.type_into("input[name=token]", TOKEN)
    await browser.click("section.login button[type=submit]")
    await browser.find("table.events, p.empty")
    assert browser.path == "/"


async def test_a_person_follows_an_event_parks_one_and_replays_it_in_a_browser(
    ingest: ServiceProcess,
    crm_writer: ServiceProcess,
    rd: SandboxServer,
    browser: Browser,
    tmp_path: Path,
) -> None:
    ana, bruno = make_signers(2)
    done_id = await send_sign(ingest, ana, "Contrato de Prestação de Serviços.pdf")
    await wait_for_status(crm_writer, done_id, "done")

    await sign_in(browser)
    assert f"Conectado como {OPERATOR}" in await browser.text("header")
    row = await browser.text(f"#row-{done_id}")
    assert "Concluído" in row and "Contrato de Prestação de Serviços.pdf" in row
    assert ana.name in row

    rd.faults.reject_deal_creation("Já existe um negócio com este nome", field="name")
    parked_id = await send_sign(ingest, bruno, "Proposta Comercial.pdf")
    await wait_for_status(crm_writer, parked_id, "parked")
    await until_page_shows(browser, "/", "Parado")
    await screenshot(browser, tmp_path, "history-list.png")

    await browser.click(f"#row-{done_id} a.details")
    await browser.find("section.requests")
    details = await browser.text()
    assert "Recebido da Clicksign" in details and "O que o signdeal deriva" in details
    assert "POST /deals" in details
    assert ana.email in details

    await browser.open("/")
    await browser.click(f"#row-{parked_id} a.details")
    why = await browser.text("section.parked")
    assert "Já existe um negócio com este nome" in why
    await screenshot(browser, tmp_path, "history-details.png")

    rd.faults.clear_deal_rejection()
    await browser.click("form.replay button[type=submit]")
    assert "1 evento(s) reenviado(s)" in await browser.text(".flash")
    await wait_for_status(crm_writer, parked_id, "done")
    await until_page_shows(browser, f"/event/{parked_id}", f"Reenviado por {OPERATOR} em")
    assert "Concluído" in await browser.text("h1")
    assert not await browser.find_all("form.replay")
