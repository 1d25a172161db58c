"""``signdeal history forget --email``: one person out of the store, said without their data."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest
import pytest_asyncio

from sandbox.clicksign import SampleSigner, make_signers
from services.crm_writer.store import EventStatus, Store
from shared.events import SignedDocumentEvent
from tests.cli.conftest import RunCli
from tests.clicksign_events import clicksign_event

pytestmark = pytest.mark.usefixtures("env")


@dataclass(frozen=True)
class People:
    ana: SampleSigner
    bruno: SampleSigner
    ana_alone: SignedDocumentEvent
    both: SignedDocumentEvent
    bruno_alone: SignedDocumentEvent


@pytest_asyncio.fixture
async def people(command_store: Store) -> People:
    ana, bruno = make_signers(2)
    seeded = People(
        ana,
        bruno,
        clicksign_event("sign", signers=[ana]),
        clicksign_event("sign", signers=[bruno, ana]),
        clicksign_event("sign", signers=[bruno]),
    )
    for event in (seeded.ana_alone, seeded.both, seeded.bruno_alone):
        await command_store.begin_attempt(event)
    await command_store.finish_event(seeded.both.event_id, status=EventStatus.PARKED)
    await command_store.record_contact(ana.email, "contact-ana")
    await command_store.record_contact(bruno.email, "contact-bruno")
    return seeded


def _personal_data(person: SampleSigner) -> list[str]:
    return [value for value in (person.name, person.email, person.documentation) if value]


async def test_dry_run_shows_what_would_go_and_removes_nothing(
    signdeal: RunCli, people: People, command_store: Store
) -> None:
    result = await signdeal("history", "forget", "--email", people.ana.email.upper(), "--dry-run")

    assert result.code == 0, result.err
    assert "would erase from the history" in result.out
    assert "2 event(s)" in result.out
    assert people.ana_alone.event_id in result.out
    assert people.both.event_id in result.out
    assert people.bruno_alone.event_id not in result.out
    assert "1 e-mail → contact row (RD contact contact-ana)" in result.out
    assert "1 of them parked" in result.out
    assert "not touched: the contact and deals in RD Station CRM" in result.out
    for value in _personal_data(people.ana):
        assert value not in result.out + result.err
    assert await command_store.get_event(people.ana_alone.event_id) is not None
    assert await command_store.get_contact_id(people.ana.email) == "contact-ana"


async def test_forget_removes_exactly_that_persons_events_and_contact(
    signdeal: RunCli, people: People, command_store: Store
) -> None:
    result = await signdeal("history", "forget", "--email", people.ana.email, "--json")

    report = orjson.loads(result.out)
    assert result.code == 0, result.err
    assert report["dry_run"] is False
    assert {event["event_id"] for event in report["events"]} == {
        people.ana_alone.event_id,
        people.both.event_id,
    }
    assert report["parked"] == [people.both.event_id]
    assert report["contact_id"] == "contact-ana"
    assert await command_store.get_event(people.ana_alone.event_id) is None
    assert await command_store.get_event(people.both.event_id) is None
    assert await command_store.get_event(people.bruno_alone.event_id) is not None
    assert await command_store.get_contact_id(people.ana.email) is None
    assert await command_store.get_contact_id(people.bruno.email) == "contact-bruno"
    for value in _personal_data(people.ana):
        assert value not in result.out


async def test_forgetting_again_finds_nothing(signdeal: RunCli, people: People) -> None:
    await signdeal("history", "forget", "--email", people.ana.email)

    again = await signdeal("history", "forget", "--email", people.ana.email)

    assert again.code == 0
    assert "nothing in the history" in again.out
    assert "not touched" in again.out


async def test_an_argument_that_is_no_e_mail_is_a_usage_error(
    signdeal: RunCli, people: People
) -> None:
    result = await signdeal("history", "forget", "--email", "ana")

    assert result.code == 2
    assert "not an e-mail address" in result.err
