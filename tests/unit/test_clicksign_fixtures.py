"""Every Clicksign webhook written by others (tests/fixtures/clicksign) goes through the parser:
each is read as a Clicksign event, and each that is about a document parses into an event."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shared.events import InvalidClicksignPayload, parse_clicksign_webhook, read_clicksign_webhook

FIXTURES = Path(__file__).parents[1] / "fixtures" / "clicksign"
# Not about a document: ingest answers them 200 from their event name (they are no triggers).
WITHOUT_DOCUMENT = {"acceptance_term_sent.json"}
WEBHOOKS = sorted(FIXTURES.glob("*.json"))


def test_the_fixture_folder_holds_the_webhooks_the_readme_lists() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    names = {path.name for path in FIXTURES.glob("*.json")}
    assert len(names) >= 6
    assert all(f"`{name}`" in readme for name in names)
    assert all(f"`{name}`" in readme for name in (p.name for p in FIXTURES.glob("api/*.json")))


@pytest.mark.parametrize("path", WEBHOOKS, ids=lambda path: path.stem)
def test_every_webhook_written_by_others_is_read_as_a_clicksign_event(path: Path) -> None:
    webhook = read_clicksign_webhook(path.read_bytes())

    assert webhook.event_name == orjson.loads(path.read_bytes())["event"]["name"]


@pytest.mark.parametrize(
    "path", [p for p in WEBHOOKS if p.name not in WITHOUT_DOCUMENT], ids=lambda path: path.stem
)
def test_every_webhook_about_a_document_parses(path: Path) -> None:
    event = parse_clicksign_webhook(path.read_bytes())

    assert event.event_name
    assert event.document_key


def test_an_acceptance_term_is_refused_as_an_event_without_document() -> None:
    with pytest.raises(InvalidClicksignPayload, match="document"):
        parse_clicksign_webhook((FIXTURES / "acceptance_term_sent.json").read_bytes())


def test_document_drawn_as_a_list_parses_as_its_one_document() -> None:
    event = parse_clicksign_webhook(
        (FIXTURES / "document_closed_document_as_list.json").read_bytes()
    )

    assert event.document_key == "db4a2cf7-0a48-481f-b669-54f2a2260ac2"
    assert event.document.filename == "blank-4.pdf"


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
