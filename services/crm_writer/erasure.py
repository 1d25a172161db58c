"""Erasing one person from the store (LGPD, art. 18 VI): ``signdeal history forget --email``.

What goes, and why rows are deleted rather than scrubbed: a person's data sits in an event's
payload (name, e-mail, CPF, phone, in the typed signers and in the webhook body), in the RD
requests and answers of its history (contact bodies, search results, custom fields), in error
texts and notes ("contact name … created as 'Name (e-mail)'"). Scrubbing would have to find
every such copy in free-form JSON and text, and one missed copy defeats it; deleting the event
rows cannot miss one. Other signers of those events lose those history rows too (the history is
an operations aid, and the erasure report lists the ids).

- every event whose payload names the e-mail as a signer, or whose RD and Clicksign calls, note
  or error mention it (a thin webhook names nobody: its signers came from Clicksign's API):
  deleted;
- the e-mail → contact row: deleted;
- the name of those events' documents (it may hold the person's name): cleared, also where RD
  never returned the deal's id. That name is what finds a deal RD created just before a crash;
  without it, replaying such an event creates the deal again if RD had made it (the erasure
  wins over that rare duplicate). The document → deal rows stay (no personal data: a Clicksign
  key, an RD id); they keep a late event from creating a second deal.

Nothing outside the store is touched: the RD Station contact and deals, Clicksign's documents,
and the messages still in the broker (a parked event keeps its data in the parking lot; replaying
it writes the history again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.crm_writer.store import EventRecord, EventStatus, Store


@dataclass(frozen=True)
class ErasedEvent:
    """What may be shown of an erased event: no personal data."""

    event_id: str
    document_key: str
    status: EventStatus


@dataclass(frozen=True)
class Erasure:
    """What the store holds of one person (before erasing) or held (after)."""

    events: list[ErasedEvent] = field(default_factory=list)
    contact_id: str | None = None
    documents_named: list[str] = field(default_factory=list)
    # Events whose payload holds the e-mail but not as a signer's (e.g. the account user who
    # uploaded the document): kept, and listed so a person can judge them.
    mentioned_elsewhere: list[str] = field(default_factory=list)

    @property
    def parked(self) -> list[ErasedEvent]:
        return [event for event in self.events if event.status is EventStatus.PARKED]

    @property
    def empty(self) -> bool:
        return not (self.events or self.contact_id or self.documents_named)


async def find_person(store: Store, email: str) -> Erasure:
    """Everything `erase_person` would remove for ``email``; changes nothing."""
    named, elsewhere = await store.events_of_signer(email)
    documents = []
    for document_key in dict.fromkeys(record.document_key for record in named):
        document = await store.get_document(document_key)
        if document is not None and document.deal_name:
            documents.append(document_key)
    return Erasure(
        events=[_shown(record) for record in named],
        contact_id=await store.get_contact_id(email),
        documents_named=documents,
        mentioned_elsewhere=elsewhere,
    )


async def erase_person(store: Store, email: str) -> Erasure:
    """Remove ``email``'s data from the store; returns what was removed."""
    found = await find_person(store, email)
    # The events go last: they are how the documents are found, so an erasure that fails
    # half-way finds them again when it is run again.
    contact_forgotten = await store.forget_contact(email)
    await store.forget_deal_names(found.documents_named)
    # An event the retention removed in between is gone all the same: the count is not checked.
    await store.delete_events([event.event_id for event in found.events])
    return Erasure(
        events=found.events,
        contact_id=found.contact_id if contact_forgotten else None,
        documents_named=found.documents_named,
        mentioned_elsewhere=found.mentioned_elsewhere,
    )


def _shown(record: EventRecord) -> ErasedEvent:
    return ErasedEvent(record.event_id, record.document_key, record.status)
