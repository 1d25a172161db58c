"""The history page's pure rules: language, origin, where links lead, filters, session key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

from services.crm_writer.page.filters import ListFilters, chip_count, page_count, read_filters
from services.crm_writer.page.i18n import ENGLISH, PORTUGUESE, Viewer, negotiate_language
from services.crm_writer.page.links import local_path
from services.crm_writer.page.protection import from_this_page, same_origin
from services.crm_writer.page.session import clean_name, session_key
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import EventStatus, StatusCounts


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, PORTUGUESE),
        ("", PORTUGUESE),
        ("de-DE", PORTUGUESE),
        ("en-US,en;q=0.9", ENGLISH),
        ("pt-BR,pt;q=0.9,en;q=0.8", PORTUGUESE),
        ("en;q=0.5, pt-BR;q=0.4", ENGLISH),
        ("pt;q=0.9, en;q=0.9", PORTUGUESE),
        ("en;q=nonsense", PORTUGUESE),
        ("fr, en;q=0.1", ENGLISH),
    ],
)
def test_english_only_when_the_browser_ranks_it_above_portuguese(
    header: str | None, language: str
) -> None:
    assert negotiate_language(header) == language


def test_a_huge_accept_language_is_read_only_so_far() -> None:
    assert negotiate_language("de, " * 100_000 + "en") == PORTUGUESE


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8081", "127.0.0.1:8081", True),
        ("https://history.example.com", "history.example.com", True),
        ("HTTPS://History.Example.com", "history.example.com", True),
        ("http://[::1]:8081", "[::1]:8081", True),
        ("http://127.0.0.1:8082", "127.0.0.1:8081", False),
        ("https://evil.example", "history.example.com", False),
        ("https://history.example.com.evil.example", "history.example.com", False),
        ("null", "history.example.com", False),
        (None, "history.example.com", False),
        ("file://", "history.example.com", False),
        ("http://127.0.0.1:8081", None, False),
    ],
)
def test_a_form_is_same_origin_only_when_its_origin_is_the_host_asked(
    origin: str | None, host: str | None, same: bool
) -> None:
    assert same_origin(origin, host) is same


@pytest.mark.parametrize(
    ("origin", "fetch_site", "accepted"),
    [
        ("http://127.0.0.1:8081", None, True),
        ("http://127.0.0.1:8081", "cross-site", True),
        ("https://evil.example", "same-origin", False),
        # A page sent with Referrer-Policy: no-referrer makes the browser say "null".
        ("null", "same-origin", True),
        ("null", "cross-site", False),
        ("null", "same-site", False),
        ("null", None, False),
        (None, "same-origin", True),
        (None, None, False),
    ],
)
def test_a_form_comes_from_this_page_by_its_origin_or_else_by_fetch_metadata(
    origin: str | None, fetch_site: str | None, accepted: bool
) -> None:
    assert from_this_page(origin, fetch_site, "127.0.0.1:8081") is accepted


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/event/abc?x=1", "/event/abc?x=1"),
        ("/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("event/abc", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        (None, "/"),
    ],
)
def test_forms_send_back_only_within_the_page(target: str | None, kept: str) -> None:
    assert local_path(target) == kept


def test_a_deal_links_to_rd_stations_web_app() -> None:
    settings = CrmWriterSettings(rdstation_crm_token="t" * 20, rdstation_deal_stage_id="s")

    assert settings.deal_web_url("65e5b7") == "https://crm.rdstation.com/app/deals/65e5b7"


def test_in_sandbox_mode_a_deal_links_to_the_sandbox() -> None:
    settings = CrmWriterSettings(rdstation_sandbox_url="http://127.0.0.1:8090/api/v1")

    assert settings.deal_web_url("d-1") == "http://127.0.0.1:8090/__sandbox/deals/d-1"


def test_filters_read_from_the_query_string_and_back() -> None:
    query = {
        "status": "parked",
        "document": "  contrato ",
        "email": "ana@example.com",
        "from": "2026-03-01",
        "to": "2026-03-02",
        "page": "3",
        "refresh": "1",
    }

    wanted = read_filters(query)

    assert wanted == ListFilters(
        chip="parked",
        document="contrato",
        email="ana@example.com",
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 2),
        page=3,
        refresh=True,
    )
    assert read_filters(dict(parse_qsl(urlsplit(wanted.link(page=3)).query))) == wanted
    assert (
        wanted.link(chip=None, document="", email="") == "/?from=2026-03-01&to=2026-03-02&refresh=1"
    )


def test_unreadable_filters_are_left_out_and_named() -> None:
    wanted = read_filters(
        {"status": "nope", "from": "01/03/2026", "to": "9999-12-31", "page": "-2"}
    )

    assert (wanted.chip, wanted.date_from, wanted.date_to, wanted.page) == (None, None, None, 1)
    assert wanted.problems == (
        ("filter.bad_status", "nope"),
        ("filter.bad_date", "01/03/2026"),
        ("filter.bad_date", "9999-12-31"),
    )
    assert wanted.query(ZoneInfo("America/Sao_Paulo")).until is None


def test_days_run_from_midnight_to_midnight_in_the_viewers_zone() -> None:
    query = ListFilters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 1)).query(
        ZoneInfo("America/Sao_Paulo")
    )

    assert query.since == datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    assert query.until == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def test_chips_count_done_without_the_ignored_ones() -> None:
    counts = StatusCounts(
        by_status={EventStatus.DONE: 5, EventStatus.PARKED: 2}, ignored=2, duplicated=1
    )

    assert [chip_count(counts, chip) for chip in (None, "done", "ignored", "parked")] == [
        7,
        3,
        2,
        2,
    ]
    assert chip_count(counts, "duplicate") == 1
    assert (page_count(0), page_count(25), page_count(26)) == (1, 1, 2)


def test_times_are_shown_in_the_viewers_zone_and_format() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)

    assert Viewer().when(moment) == "01/03/2026 09:30:05"
    assert Viewer(language=ENGLISH, zone_name="UTC").when(moment) == "2026-03-01 12:30:05"
    assert Viewer(zone_name="Mars/Olympus").when(moment) == "01/03/2026 09:30:05"


def test_one_token_gives_every_replica_the_same_session_key() -> None:
    token = "history-token-0123456789"

    assert session_key(token) == session_key(token)
    assert session_key(token) != session_key(token + "x")
    assert len(session_key(None)) == 32 and session_key(None) != session_key(None)


def test_a_login_name_is_printable_and_short() -> None:
    assert clean_name("  Ana \x00\n Souza\u202e ") == "Ana Souza"
    assert len(clean_name("x" * 1000)) == 60
