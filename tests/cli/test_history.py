"""``signdeal history`` and ``history show``: from the store (both backends) or the HTTP API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from sandbox.clicksign import make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer import views
from services.crm_writer.access import HISTORY_ACCESS, HistoryAccess, history_access_middleware
from services.crm_writer.keys import STORE
from services.crm_writer.store import EventStatus, Outcome, Store
from shared.events import SignedDocumentEvent
from tests.cli.conftest import RunCli, _served, command_lines
from tests.clicksign_events import clicksign_event
from tests.crm_writer.test_history_access import non_loopback_address

pytestmark = pytest.mark.usefixtures("env")

UTC_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00")

DEAL_ID = "65f0c0ffee0000000000beef"
CREATE_DEAL = {
    "method": "POST",
    "path": "/deals",
    "query": {},
    "request": {"deal": {"name": "Contrato de Prestação de Serviços.pdf - João Pedro Araújo"}},
    "status": 200,
    "response": {"_id": DEAL_ID, "id": DEAL_ID, "name": "Contrato - João"},
    "duration_ms": 12.5,
    "error": None,
}
FIND_CONTACT = {
    "method": "GET",
    "path": "/contacts",
    "query": {"email": "joao.araujo@example.com", "limit": "200"},
    "request": None,
    "status": 200,
    "response": {"contacts": [], "has_more": False, "total": 0},
    "duration_ms": 3.0,
    "error": None,
}
REFUSED_DEAL = {
    **CREATE_DEAL,
    "status": 422,
    "response": {"errors": {"deal_custom_fields": ["Campo obrigatório"]}},
    "error": "RD Station: deal_custom_fields: Campo obrigatório (422 on /deals)",
}


@dataclass(frozen=True)
class Seeded:
    done: SignedDocumentEvent
    parked: SignedDocumentEvent


@pytest_asyncio.fixture
async def seeded(command_store: Store) -> Seeded:
    done, parked = clicksign_event("sign", signers=make_signers(2)), clicksign_event("sign")
    await command_store.begin_attempt(done)
    await command_store.finish_event(
        done.event_id,
        status=EventStatus.DONE,
        outcome=Outcome.CREATED,
        deal_id=DEAL_ID,
        rd_calls=[CREATE_DEAL, FIND_CONTACT],
        duration_ms=41.0,
    )
    await command_store.begin_attempt(parked)
    await command_store.finish_event(
        parked.event_id,
        status=EventStatus.PARKED,
        rd_calls=[REFUSED_DEAL],
        error=str(REFUSED_DEAL["error"]),
    )
    return Seeded(done, parked)


async def test_list_shows_newest_first_with_status_and_error(
    signdeal: RunCli, seeded: Seeded
) -> None:
    result = await signdeal("history")

    lines = result.out.splitlines()
    assert result.code == 0
    assert lines[0].split()[:3] == ["LAST", "ATTEMPT", "EVENT"]
    assert seeded.parked.event_id in lines[1]
    assert "parked" in lines[1]
    assert "Campo obrigatório" in lines[1]
    assert seeded.done.event_id in lines[2]
    assert "done (created)" in lines[2]
    assert DEAL_ID in lines[2]


async def test_times_carry_their_offset(signdeal: RunCli, seeded: Seeded) -> None:
    listed = (await signdeal("history")).out.splitlines()
    shown = (await signdeal("history", "show", seeded.done.event_id)).out

    assert UTC_TIME.match(listed[1]), listed[1]
    for label in ("received", "first attempt", "last attempt", "finished"):
        line = next(line for line in shown.splitlines() if line.startswith(label))
        assert UTC_TIME.search(line), line


async def test_filters_by_status_document_and_limit(signdeal: RunCli, seeded: Seeded) -> None:
    parked = orjson.loads((await signdeal("history", "--status", "parked", "--json")).out)
    by_document = orjson.loads(
        (await signdeal("history", "--document", seeded.done.document_key, "--json")).out
    )
    limited = orjson.loads((await signdeal("history", "--limit", "1", "--json")).out)

    assert [event["event_id"] for event in parked] == [seeded.parked.event_id]
    assert [event["event_id"] for event in by_document] == [seeded.done.event_id]
    assert len(limited) == 1
    assert "rd_calls" not in limited[0]


async def test_since_takes_durations_and_iso_times(signdeal: RunCli, seeded: Seeded) -> None:
    recent = orjson.loads((await signdeal("history", "--since", "30m", "--json")).out)
    future = await signdeal("history", "--since", "2999-01-01T00:00")

    assert len(recent) == 2
    assert future.code == 0
    assert future.out.strip() == "(no events match)"


async def test_bad_filters_are_usage_errors(signdeal: RunCli, seeded: Seeded) -> None:
    since = await signdeal("history", "--since", "yesterday")
    status = await signdeal("history", "--status", "lost")

    assert since.code == 2
    assert "neither a duration" in since.err
    assert status.code == 2


async def test_show_tells_what_came_from_clicksign_and_what_went_to_rd(
    signdeal: RunCli, seeded: Seeded, rd: SandboxServer
) -> None:
    result = await signdeal("history", "show", seeded.done.event_id)

    out = result.out
    assert result.code == 0
    assert f"{seeded.done.event_id} (sign)" in out
    assert f"{DEAL_ID}  {rd.root_url}/__sandbox/deals/{DEAL_ID}" in out
    assert "What came from Clicksign" in out
    assert seeded.done.document_key in out
    assert "João Pedro Araújo <joao.araujo@example.com>" in out
    assert "Maria Conceição Gonçalves" in out
    assert "What was sent to RD Station (2 request(s), oldest first)" in out
    assert "1. POST /deals → 200 in 12 ms" in out
    assert '"name":"Contrato de Prestação de Serviços.pdf - João Pedro Araújo"' in out
    assert f"answer: id {DEAL_ID}" in out
    assert "2. GET /contacts?email=joao.araujo@example.com&limit=200 → 200" in out
    assert "answer: 0 contacts" in out
    assert "took            41 ms" in out


async def test_show_of_a_parked_event_gives_rds_refusal(signdeal: RunCli, seeded: Seeded) -> None:
    result = await signdeal("history", "show", seeded.parked.event_id)

    assert "status          parked" in result.out
    assert "POST /deals → 422" in result.out
    assert "RD Station: deal_custom_fields: Campo obrigatório (422 on /deals)" in result.out


async def test_show_full_prints_the_webhook_body(signdeal: RunCli, seeded: Seeded) -> None:
    result = await signdeal("history", "show", seeded.done.event_id, "--full")

    assert "webhook body, as stored (" in result.out
    assert "field(s) left out: see _removed):" in result.out
    assert '"_removed": [' in result.out
    assert '"secret_hmac": null' in result.out


async def test_show_json_is_the_whole_record(signdeal: RunCli, seeded: Seeded) -> None:
    result = await signdeal("history", "show", "--json", seeded.done.event_id)

    record = orjson.loads(result.out)
    assert record["status"] == "done"
    assert record["rd_calls"] == [CREATE_DEAL, FIND_CONTACT]
    assert record["payload"]["raw"]["event"]["name"] == "sign"


async def test_unknown_event_is_not_found(signdeal: RunCli, seeded: Seeded) -> None:
    result = await signdeal("history", "show", "no-such-event")

    assert result.code == 1
    assert "no event no-such-event" in result.err


async def test_store_that_does_not_exist_yet_is_said_plainly(
    signdeal: RunCli, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("STORE_URL", f"sqlite:///{tmp_path}/nowhere/signdeal.db")

    result = await signdeal("history")

    assert result.code == 1
    assert "no history yet" in result.err
    assert not (tmp_path / "nowhere").exists()


# -- through crm_writer's HTTP API ------------------------------------------------------------


@pytest_asyncio.fixture
async def history_api(command_store: Store) -> AsyncIterator[str]:
    """Only the history routes of crm_writer, over the seeded store."""
    app = web.Application()
    app[STORE] = command_store
    views.setup_routes(app)
    async with _served(app) as url:
        yield url


async def test_api_list_and_store_list_agree(
    signdeal: RunCli, seeded: Seeded, history_api: str
) -> None:
    from_store = await signdeal("history", "--json")
    from_api = await signdeal("history", "--api", history_api, "--json")

    assert orjson.loads(from_api.out) == orjson.loads(from_store.out)


async def test_api_filters_and_show(signdeal: RunCli, seeded: Seeded, history_api: str) -> None:
    parked = await signdeal(
        "history", "--api", history_api, "--status", "parked", "--since", "1h", "--json"
    )
    shown = await signdeal("history", "show", seeded.done.event_id, "--api", history_api)

    assert [e["event_id"] for e in orjson.loads(parked.out)] == [seeded.parked.event_id]
    assert "1. POST /deals → 200" in shown.out
    # The local sandbox is not where a remote deployment keeps its deals: no link.
    assert "/deals/" + DEAL_ID not in shown.out
    assert f"deal            {DEAL_ID}" in shown.out


async def test_api_unknown_event_and_unreachable_api(signdeal: RunCli, history_api: str) -> None:
    missing = await signdeal("history", "show", "nope", "--api", history_api)
    unreachable = await signdeal("history", "--api", "http://127.0.0.1:1")

    assert missing.code == 1
    assert "no event nope" in missing.err
    assert unreachable.code == 1
    assert "cannot read crm_writer's history at http://127.0.0.1:1/events" in unreachable.err


# -- the history API behind CRM_WRITER_API_TOKEN ----------------------------------------------

HISTORY_TOKEN = "cli-history-token-0123456789abcdef"


def _protected_app(store: Store, token: str | None) -> web.Application:
    app = web.Application(middlewares=[history_access_middleware])
    app[STORE] = store
    app[HISTORY_ACCESS] = HistoryAccess(token)
    views.setup_routes(app)
    return app


@pytest_asyncio.fixture
async def protected_api(command_store: Store) -> AsyncIterator[str]:
    """The history routes behind a token, as crm_writer serves them with CRM_WRITER_API_TOKEN."""
    async with _served(_protected_app(command_store, HISTORY_TOKEN)) as url:
        yield url


async def test_api_calls_carry_the_token_from_the_environment(
    signdeal: RunCli, seeded: Seeded, protected_api: str, env: pytest.MonkeyPatch
) -> None:
    env.setenv("CRM_WRITER_API_TOKEN", HISTORY_TOKEN)

    listed = await signdeal("history", "--api", protected_api, "--json")
    shown = await signdeal("history", "show", seeded.done.event_id, "--api", protected_api)

    assert listed.code == 0, listed.err
    assert len(orjson.loads(listed.out)) == 2
    assert shown.code == 0, shown.err
    assert "1. POST /deals → 200" in shown.out


async def test_api_refusal_is_one_line_naming_the_variable(
    signdeal: RunCli, seeded: Seeded, protected_api: str, env: pytest.MonkeyPatch
) -> None:
    missing = await signdeal("history", "--api", protected_api)
    env.setenv("CRM_WRITER_API_TOKEN", "another-token-of-enough-length")
    wrong = await signdeal("history", "show", seeded.done.event_id, "--api", protected_api)

    for result in (missing, wrong):
        assert result.code == 1
        (line,) = command_lines(result.err)
        assert "CRM_WRITER_API_TOKEN" in line
        assert "another-token-of-enough-length" not in line
    assert "answered 401" in missing.err
    assert "refused CRM_WRITER_API_TOKEN (401)" in wrong.err


async def test_api_of_a_crm_writer_without_token_seen_from_afar(
    signdeal: RunCli, command_store: Store
) -> None:
    host = non_loopback_address()
    if host is None:
        pytest.skip("this machine has no non-loopback address to call itself on")
    runner = web.AppRunner(_protected_app(command_store, None), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        url = f"http://{host}:{runner.addresses[0][1]}"
        result = await signdeal("history", "--api", url)
    finally:
        await runner.cleanup()

    assert result.code == 1
    (line,) = command_lines(result.err)
    assert "answered 403" in line
    assert "set CRM_WRITER_API_TOKEN on crm_writer" in line
