"""Every Clicksign webhook written by others (tests/fixtures/clicksign) goes through the parser.

Shapes the parser refuses today are issue 12's ingest part (the lead's): they are listed here as
strict xfails, so the day the parser takes them the marks must go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.events import parse_clicksign_webhook

FIXTURES = Path(__file__).parents[1] / "fixtures" / "clicksign"
INGEST_TAKES_THEM_NEXT = {
    "acceptance_term_sent.json": "no document: an acceptance object instead",
    "document_closed_document_as_list.json": "document drawn as a one-element list",
}


def webhook_fixtures() -> list[object]:
    params: list[object] = []
    for path in sorted(FIXTURES.glob("*.json")):
        reason = INGEST_TAKES_THEM_NEXT.get(path.name)
        marks = (
            [pytest.mark.xfail(strict=True, reason=f"issue 12 ingest (lead): {reason}")]
            if reason
            else []
        )
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def test_the_fixture_folder_holds_the_webhooks_the_readme_lists() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    names = {path.name for path in FIXTURES.glob("*.json")}
    assert len(names) >= 6
    assert all(f"`{name}`" in readme for name in names)
    assert all(f"`{name}`" in readme for name in (p.name for p in FIXTURES.glob("api/*.json")))


@pytest.mark.parametrize("path", webhook_fixtures())
def test_every_webhook_written_by_others_parses(path: Path) -> None:
    event = parse_clicksign_webhook(path.read_bytes())

    assert event.event_name
    assert event.document_key


def test_the_production_auto_close_parses_with_no_signers() -> None:
    event = parse_clicksign_webhook(
        (FIXTURES / "auto_close_production_signers_empty.json").read_bytes()
    )

    assert event.signers == []
    assert event.document.filename == "Levantamento Do Fluxo MCapital.pdf"


def test_finalisations_without_file_name_parse_with_none() -> None:
    for name in (
        "auto_close_securities_docs_no_filename.json",
        "auto_close_ms_docsigner_no_filename_no_path.json",
    ):
        event = parse_clicksign_webhook((FIXTURES / name).read_bytes())
        assert event.document.filename is None, name
