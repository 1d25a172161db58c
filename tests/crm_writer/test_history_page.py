"""The history page at ``GET /`` rendered by crm_writer's whole app (broker and RD unreachable:
only the HTTP side and the store matter here; replay through a real broker is in
test_history_page_replay.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientResponse

from sandbox.clicksign import SampleSigner, make_signers
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.keys import RUNTIME, STORE
from services.crm_writer.page.filters import PAGE_SIZE
from services.crm_writer.store import EventRecord, EventStatus, Outcome, Store
from services.crm_writer.templates import TitleTemplate
from shared.events import SignedDocumentEvent
from tests.clicksign_events import clicksign_event
from tests.crm_writer.conftest import Client, StartClient

TOKEN = "history-token-for-the-page-0123456789"
RD_422 = {
    "method": "POST",
    "path": "/deals",
    "query": {},
    "request": {"deal": {"name": "Contrato - Ana"}},
    "status": 422,
    "response": {"errors": {"name": ["já está em uso"]}},
    "duration_ms": 41.5,
}
RD_CONTACTS = {
    "method": "GET",
    "path": "/contacts",
    "query": {"email": "ana@example.com"},
    "request": None,
    "status": 200,
    "response": {"contacts": []},
    "duration_ms": 12.0,
}
PORTUGUESE = {"Accept-Language": "pt-BR,pt;q=0.9"}


def store_of(client: Client) -> Store:
    return client.server.app[STORE]


async def recorded(
    client: Client,
    event: SignedDocumentEvent,
    status: EventStatus | None = None,
    **result: Any,
) -> EventRecord:
    store = store_of(client)
    await store.begin_attempt(event)
    if status is not None:
        await store.finish_event(event.event_id, status=status, **result)
    record = await store.get_event(event.event_id)
    assert record is not None
    return record


async def page_text(client: Client, path: str, **headers: str) -> str:
    answer = await client.get(path, headers=headers or PORTUGUESE)
    assert answer.status == 200, await answer.text()
    return await answer.text()


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="event" id="row-([^"]+)"', html)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def origin_of(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


def signer(name: str, email: str) -> SampleSigner:
    return replace(make_signers(1)[0], name=name, email=email)


# -- the list -----------------------------------------------------------------------------------


async def test_the_list_shows_events_newest_first_with_their_status_chips(
    start_client: StartClient,
) -> None:
    client = await start_client()
    first = await recorded(client, clicksign_event("sign", "doc-a"), EventStatus.DONE)
    second = await recorded(
        client, clicksign_event("sign", "doc-b"), EventStatus.PARKED, error="RD said 422"
    )
    third = await recorded(
        client, clicksign_event("sign", "doc-c"), EventStatus.DONE, outcome=Outcome.IGNORED
    )

    html = await page_text(client, "/")

    assert row_ids(html) == [third.event_id, second.event_id, first.event_id]
    assert 'class="chip parked">Parado<' in html
    assert 'class="chip ignored">Ignorado<' in html


async def test_counts_per_status_are_shown_at_the_top(start_client: StartClient) -> None:
    client = await start_client()
    event = clicksign_event("sign", "doc-a")
    await recorded(client, event, EventStatus.DONE, outcome=Outcome.CREATED)
    await recorded(client, clicksign_event("sign", "doc-b"), EventStatus.PARKED, error="x")
    await recorded(client, clicksign_event("sign", "doc-c"), EventStatus.RETRYING, error="x")
    await store_of(client).begin_attempt(event)  # redelivered: a duplicate

    html = await page_text(client, "/")

    def count(chip: str) -> str:
        found = re.search(rf'chip-filter {chip}[^"]*".*?class="count">(\d+)<', html, re.S)
        assert found, chip
        return found.group(1)

    assert [count(chip) for chip in ("all", "done", "parked", "retrying", "duplicate")] == [
        "3",
        "1",
        "1",
        "1",
        "1",
    ]


async def test_the_status_chip_filters_the_list(start_client: StartClient) -> None:
    client = await start_client()
    await recorded(client, clicksign_event("sign", "doc-a"), EventStatus.DONE)
    parked = await recorded(client, clicksign_event("sign", "doc-b"), EventStatus.PARKED, error="x")

    assert row_ids(await page_text(client, "/?status=parked")) == [parked.event_id]


async def test_the_list_filters_by_file_name_and_by_signer_email(
    start_client: StartClient,
) -> None:
    client = await start_client()
    proposal = await recorded(
        client,
        clicksign_event(
            "sign", "doc-a", signers=[signer("Ana", "ana@example.com")], filename="Proposta.pdf"
        ),
    )
    contract = await recorded(
        client,
        clicksign_event(
            "sign", "doc-b", signers=[signer("Bia", "bia@example.com")], filename="Contrato.pdf"
        ),
    )

    assert row_ids(await page_text(client, "/?document=propos")) == [proposal.event_id]
    assert row_ids(await page_text(client, "/?email=BIA@example.com")) == [contract.event_id]
    assert row_ids(await page_text(client, "/?document=doc-b")) == [contract.event_id]


async def test_the_date_filter_takes_days_in_the_viewers_zone(start_client: StartClient) -> None:
    client = await start_client()
    record = await recorded(client, clicksign_event("sign", "doc-a"))
    day = record.last_attempt_at.astimezone(ZoneInfo("America/Sao_Paulo")).date()

    same_day = await page_text(client, f"/?from={day}&to={day}")
    before = await page_text(client, f"/?to={day.replace(year=day.year - 1)}")
    bad = await page_text(client, "/?from=31/12/2026")

    assert row_ids(same_day) == [record.event_id]
    assert row_ids(before) == []
    assert "Data inválida: 31/12/2026" in bad


async def test_the_list_pages_older_events(start_client: StartClient) -> None:
    client = await start_client()
    records = [
        await recorded(client, clicksign_event("sign", f"doc-{number}"))
        for number in range(PAGE_SIZE + 2)
    ]
    newest_first = [record.event_id for record in reversed(records)]

    first = await page_text(client, "/")
    second = await page_text(client, "/?page=2")
    beyond = await page_text(client, "/?page=99")

    assert row_ids(first) == newest_first[:PAGE_SIZE]
    assert row_ids(second) == newest_first[PAGE_SIZE:]
    assert "Página 2 de 2" in second
    assert row_ids(beyond) == row_ids(second)
    assert 'href="/?page=2"' in first


async def test_a_signer_named_script_is_shown_as_text(start_client: StartClient) -> None:
    client = await start_client()
    hostile = signer("<script>alert('x')</script>", "x@example.com")
    record = await recorded(client, clicksign_event("sign", "doc-<b>", signers=[hostile]))

    listing = await page_text(client, "/")
    details = await page_text(client, f"/event/{record.event_id}")

    for html in (listing, details):
        assert "<script>" not in html
        assert "&lt;script&gt;alert(" in html
    assert "<b>" not in details


# -- one event, one document --------------------------------------------------------------------


async def test_details_show_the_payload_the_requests_and_the_failure(
    start_client: StartClient,
) -> None:
    client = await start_client()
    record = await recorded(
        client,
        clicksign_event("sign", "doc-a", signers=[signer("Ana Souza", "ana@example.com")]),
        EventStatus.PARKED,
        rd_calls=[RD_CONTACTS, RD_422],
        error="RD Station refused the deal: name já está em uso",
    )

    html = await page_text(client, f"/event/{record.event_id}")

    assert "RD Station refused the deal: name já está em uso" in html
    assert '<details class="payload">' in html
    assert "&#34;event_name&#34;: &#34;sign&#34;" in html or '"event_name": "sign"' in html
    assert '<code class="target">/contacts?email=ana@example.com</code>' in html
    assert '<details class="call failed">' in html
    assert "name: já está em uso" in html
    assert "42 ms" in html
    assert 'name="event_id" value="' + record.event_id in html


async def test_details_show_what_signdeal_derives_with_the_pipelines_own_planning(
    start_client: StartClient,
) -> None:
    client = await start_client()
    client.server.app[RUNTIME].deal_settings = DealSettings(
        stage_id="stage-signed", title=TitleTemplate("Contrato {document.key} - {signer.name}")
    )
    record = await recorded(
        client, clicksign_event("sign", "doc-a", signers=[signer("Ana Souza", "ana@example.com")])
    )

    html = await page_text(client, f"/event/{record.event_id}")

    assert '<dd class="deal-title">Contrato doc-a - Ana Souza</dd>' in html
    assert "<code>stage-signed</code>" in html
    assert '<div class="link-signer">Ana Souza &lt;ana@example.com&gt;</div>' in html


async def test_details_link_the_deal_and_the_documents_other_events(
    start_client: StartClient,
) -> None:
    client = await start_client()
    first = await recorded(
        client, clicksign_event("sign", "doc-a"), EventStatus.DONE, deal_id="deal-1"
    )
    second = await recorded(client, clicksign_event("auto_close", "doc-a"))

    html = await page_text(client, f"/event/{first.event_id}")

    # Sandbox mode (no RD token): the sandbox's own resource for the deal.
    assert re.search(r'href="http://127\.0\.0\.1:\d+/__sandbox/deals/deal-1"', html)
    assert 'href="/document/doc-a"' in html
    assert row_ids(html) == [second.event_id]


async def test_the_document_view_lists_its_events_oldest_first_with_its_deal(
    start_client: StartClient,
) -> None:
    client = await start_client()
    first = await recorded(client, clicksign_event("sign", "doc-a"))
    second = await recorded(client, clicksign_event("auto_close", "doc-a"))
    await store_of(client).record_deal("doc-a", "deal-7")
    await recorded(client, clicksign_event("sign", "doc-other"))

    html = await page_text(client, "/document/doc-a")

    assert row_ids(html) == [first.event_id, second.event_id]
    assert "/deals/deal-7" in html


async def test_a_parked_message_that_is_no_event_is_listed_and_its_details_say_why(
    start_client: StartClient,
) -> None:
    client = await start_client()
    await store_of(client).record_unreadable(
        "garbage-7",
        document_key="",
        event_name="sign",
        correlation_id="",
        received_at=datetime.now(UTC),
        reason="unreadable message: body is not valid JSON",
    )

    listed = await page_text(client, "/?status=parked")
    details = await page_text(client, "/event/garbage-7")

    assert row_ids(listed) == ["garbage-7"]
    assert "unreadable message: body is not valid JSON" in details


async def test_an_unknown_event_is_a_404_page(start_client: StartClient) -> None:
    client = await start_client()

    answer = await client.get("/event/nope", headers=PORTUGUESE)

    assert answer.status == 404
    assert "Evento não encontrado: nope" in await answer.text()


async def test_an_unknown_document_is_a_404_page_that_names_a_document(
    start_client: StartClient,
) -> None:
    client = await start_client()

    answer = await client.get("/document/no-such-doc", headers=PORTUGUESE)

    assert answer.status == 404
    assert "Documento não encontrado: no-such-doc" in await answer.text()


# -- language, time zone, headers ---------------------------------------------------------------


async def test_labels_are_portuguese_by_default_and_english_when_the_browser_prefers_it(
    start_client: StartClient,
) -> None:
    client = await start_client()

    default = await (await client.get("/", headers={"Accept-Language": ""})).text()
    english = await page_text(client, "/", **{"Accept-Language": "pt;q=0.4, en-US;q=0.9"})

    assert '<html lang="pt-BR">' in default and "Histórico" in default
    assert '<html lang="en">' in english and "History" in english


async def test_times_are_in_sao_paulo_unless_the_viewer_chose_another_zone(
    start_client: StartClient,
) -> None:
    client = await start_client()
    record = await recorded(client, clicksign_event("sign", "doc-a"))

    def shown(zone: str) -> str:
        return format(record.last_attempt_at.astimezone(ZoneInfo(zone)), "%d/%m/%Y %H:%M:%S")

    html = await page_text(client, "/")
    assert shown("America/Sao_Paulo") in html
    assert "Horários em America/Sao_Paulo" in html

    chosen = await post_form(client, "/preferences", html, zone="UTC", back="/")
    assert chosen.status == 303

    utc = await page_text(client, "/")
    assert shown("UTC") in utc and shown("America/Sao_Paulo") not in utc


async def test_a_chosen_language_stays_chosen_when_the_zone_is_changed(
    start_client: StartClient,
) -> None:
    # The preferences form sends both choices: its language list must show the one saved, or
    # the next change of zone sends "automatic" and drops it.
    client = await start_client()
    html = await page_text(client, "/")
    await post_form(client, "/preferences", html, language="en", zone="", back="/")

    english = await page_text(client, "/")
    assert '<option value="en" selected>' in english
    await post_form(client, "/preferences", english, language="en", zone="UTC", back="/")

    assert '<html lang="en">' in await page_text(client, "/")


async def test_pages_forbid_scripts_framing_sniffing_and_referrers(
    start_client: StartClient,
) -> None:
    client = await start_client()

    answer = await client.get("/")

    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"


# -- forms and their protection -----------------------------------------------------------------


async def post_form(
    client: Client, path: str, html: str, *, origin: str | None = "", **fields: str
) -> ClientResponse:
    """POST a form as the page's browser would: its CSRF token, its own Origin."""
    headers = (
        {"Origin": origin_of(client) if origin == "" else origin} if origin is not None else {}
    )
    return await client.post(
        path, data={"csrf": csrf_of(html), **fields}, headers=headers, allow_redirects=False
    )


async def parked_event(client: Client) -> EventRecord:
    return await recorded(
        client, clicksign_event("sign", "doc-a"), EventStatus.PARKED, error="RD said 422"
    )


async def test_a_replay_without_the_csrf_token_is_refused(start_client: StartClient) -> None:
    client = await start_client()
    parked = await parked_event(client)
    await page_text(client, "/")  # the session

    answer = await client.post(
        "/replay",
        data={"event_id": parked.event_id},
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )

    assert answer.status == 403
    assert "Recarregue a página" in await answer.text()


async def test_a_replay_with_a_wrong_csrf_token_is_refused(start_client: StartClient) -> None:
    client = await start_client()
    parked = await parked_event(client)
    html = await page_text(client, "/")

    answer = await client.post(
        "/replay",
        data={"event_id": parked.event_id, "csrf": csrf_of(html) + "x"},
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )

    assert answer.status == 403


async def test_a_replay_from_another_origin_or_none_is_refused(start_client: StartClient) -> None:
    client = await start_client()
    parked = await parked_event(client)
    html = await page_text(client, "/")

    for origin in ("https://evil.example", "null", None):
        answer = await post_form(client, "/replay", html, origin=origin, event_id=parked.event_id)
        assert answer.status == 403, origin


async def test_a_browsers_null_origin_counts_only_with_same_origin_fetch_metadata(
    start_client: StartClient,
) -> None:
    client = await start_client()
    parked = await parked_event(client)
    html = await page_text(client, "/")
    fields = {"csrf": csrf_of(html), "event_id": parked.event_id}

    def post(fetch_site: str) -> Any:
        headers = {"Origin": "null", "Sec-Fetch-Site": fetch_site}
        return client.post("/replay", data=fields, headers=headers, allow_redirects=False)

    assert (await post("cross-site")).status == 403
    assert (await post("same-origin")).status == 303


async def test_a_replay_while_the_broker_is_down_says_so(start_client: StartClient) -> None:
    client = await start_client()
    parked = await parked_event(client)
    html = await page_text(client, f"/event/{parked.event_id}")
    assert "O broker (RabbitMQ) está fora do alcance" in html

    answer = await post_form(
        client, "/replay", html, event_id=parked.event_id, back=f"/event/{parked.event_id}"
    )

    assert answer.status == 303
    assert answer.headers["Location"] == f"/event/{parked.event_id}"
    after = await page_text(client, answer.headers["Location"])
    assert 'class="flash error"' in after
    still = await store_of(client).get_event(parked.event_id)
    assert still is not None and still.replays == []


# -- the access rule ----------------------------------------------------------------------------


async def test_with_a_token_a_browser_without_a_session_goes_to_the_login_form(
    start_client: StartClient,
) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    home = await client.get("/", allow_redirects=False)
    details = await client.get("/event/abc?x=1", allow_redirects=False)
    form = await client.get("/login", headers=PORTUGUESE)
    stylesheet = await client.get("/static/page.css")

    assert (home.status, home.headers["Location"]) == (303, "/login")
    assert details.headers["Location"] == "/login?next=%2Fevent%2Fabc%3Fx%3D1"
    assert form.status == 200 and 'type="password" name="token"' in await form.text()
    assert stylesheet.status == 200


async def test_a_wrong_token_is_refused_and_opens_nothing(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    answer = await client.post(
        "/login",
        data={"name": "Ana", "token": TOKEN + "x", "next": "/"},
        headers={"Origin": origin_of(client), **PORTUGUESE},
        allow_redirects=False,
    )

    assert answer.status == 401
    assert "Token incorreto." in await answer.text()
    assert (await client.get("/", allow_redirects=False)).status == 303
    assert (await client.get("/events")).status == 401


async def test_the_right_token_sets_a_strict_http_only_session_cookie(
    start_client: StartClient,
) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    answer = await client.post(
        "/login",
        data={"name": "Ana Operadora", "token": TOKEN, "next": "/event/abc"},
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )

    assert (answer.status, answer.headers["Location"]) == (303, "/event/abc")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    home = await page_text(client, "/")
    assert "Conectado como Ana Operadora" in home
    assert (await client.get("/events")).status == 200  # the session opens the JSON API too


async def test_the_session_cookie_is_secure_behind_https(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    answer = await client.post(
        "/login",
        data={"name": "Ana", "token": TOKEN},
        headers={"Origin": origin_of(client), "X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )

    assert answer.status == 303
    assert "Secure" in answer.headers["Set-Cookie"]


async def test_login_sends_back_only_within_the_page(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    answer = await client.post(
        "/login",
        data={"name": "Ana", "token": TOKEN, "next": "//evil.example/x"},
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )

    assert answer.headers["Location"] == "/"


async def test_a_login_posted_from_another_site_is_refused(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    answer = await client.post(
        "/login",
        data={"name": "Ana", "token": TOKEN},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )

    assert answer.status == 403
    assert "Set-Cookie" not in answer.headers


async def test_signing_out_ends_the_session(start_client: StartClient) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)
    await client.post(
        "/login", data={"name": "Ana", "token": TOKEN}, headers={"Origin": origin_of(client)}
    )
    html = await page_text(client, "/")

    answer = await post_form(client, "/logout", html)

    assert (answer.status, answer.headers["Location"]) == (303, "/login")
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_without_a_token_loopback_clients_get_the_page_without_login(
    start_client: StartClient,
) -> None:
    client = await start_client()

    answer = await client.get("/", allow_redirects=False)
    login = await client.get("/login", allow_redirects=False)

    assert answer.status == 200
    assert (login.status, login.headers["Location"]) == (303, "/")
