"""Did every accepted event have exactly one effect? Judged from the store and the RD sandbox.

An event's effect is its document's deal in RD (created once, its id recorded) with every signer
the event links (``signers_to_link``) present as one RD contact linked to that deal. Every test of
the fault suite gives each document its own file name, so a document's deals are the RD deals
whose name starts with that file name (the default title is ``{document.filename} - …``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sandbox.rdstation.models import Deal
from sandbox.rdstation.state import SandboxState
from services.crm_writer.deal_plan import signers_to_link
from services.crm_writer.store import EventStatus, Store
from shared.events import SignedDocumentEvent


@dataclass(frozen=True)
class ExpectedEffect:
    event_id: str
    document_key: str
    filename: str
    emails: tuple[str, ...]

    @classmethod
    def of(cls, event: SignedDocumentEvent) -> ExpectedEffect:
        emails = tuple(str(signer.email).lower() for signer in signers_to_link(event))
        return cls(event.event_id, event.document_key, str(event.document.filename), emails)


@dataclass
class Tally:
    """Per accepted event: exactly one effect, lost (no effect), or duplicated (doubled)."""

    events: int = 0
    exactly_once: int = 0
    lost: int = 0
    duplicated: int = 0
    extra_deals: int = 0
    extra_contacts: int = 0
    stray_deals: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.exactly_once == self.events and not (
            self.extra_deals or self.extra_contacts or self.stray_deals
        )

    def figures(self) -> dict[str, int]:
        return {
            "events_accepted": self.events,
            "exactly_once": self.exactly_once,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "extra_deals": self.extra_deals,
            "extra_contacts": self.extra_contacts,
            "stray_deals": self.stray_deals,
        }


async def tally_effects(
    store: Store, rd: SandboxState, accepted: Iterable[SignedDocumentEvent]
) -> Tally:
    """Count, for every distinct accepted event, whether its effect exists once, not at all,
    or more than once; ``problems`` says what is wrong with each event that is not clean."""
    expected = {event.event_id: ExpectedEffect.of(event) for event in accepted}
    tally = Tally(events=len(expected))
    filenames = {effect.filename for effect in expected.values()}
    if len(filenames) != len({effect.document_key for effect in expected.values()}):
        raise ValueError("every document of a fault test needs its own file name")
    for effect in expected.values():
        verdict = await _judge(store, rd, effect)
        if verdict == "ok":
            tally.exactly_once += 1
        elif verdict.startswith("lost"):
            tally.lost += 1
            tally.problems.append(f"{effect.event_id} ({effect.document_key}): {verdict}")
        else:
            tally.duplicated += 1
            tally.problems.append(f"{effect.event_id} ({effect.document_key}): {verdict}")
    for filename in filenames:
        tally.extra_deals += max(0, len(_deals_of(rd, filename)) - 1)
    emails = {email for effect in expected.values() for email in effect.emails}
    tally.extra_contacts = sum(max(0, len(rd.contacts_with_email(e)) - 1) for e in emails)
    tally.stray_deals = sum(
        1 for deal in rd.deals if not any(deal.name.startswith(f"{f} - ") for f in filenames)
    )
    return tally


async def _judge(store: Store, rd: SandboxState, effect: ExpectedEffect) -> str:
    record = await store.get_event(effect.event_id)
    if record is None or record.status is not EventStatus.DONE:
        return f"lost: history says {record.status if record else 'nothing'}"
    document = await store.get_document(effect.document_key)
    deal_id = document.deal_id if document else None
    deals = _deals_of(rd, effect.filename)
    if deal_id is None or deal_id not in {deal.id for deal in deals}:
        return f"lost: no RD deal for the document (recorded {deal_id})"
    for email in effect.emails:
        contacts = rd.contacts_with_email(email)
        if not any(deal_id in contact.deal_ids for contact in contacts):
            return f"lost: {email} is not linked to deal {deal_id}"
        if len(contacts) > 1:
            return f"duplicated: {len(contacts)} RD contacts for {email}"
    if len(deals) > 1:
        return f"duplicated: {len(deals)} RD deals for the document"
    return "ok"


def _deals_of(rd: SandboxState, filename: str) -> list[Deal]:
    return [deal for deal in rd.deals if deal.name.startswith(f"{filename} - ")]
