"""What one event should do to its deal, decided before any request, and the RD Station request
bodies that follows from: pure functions, no I/O.

The environment gives the defaults (stage, title, owner); the optional mapping file refines them
per rule and per event: the stage an event moves the deal to, won when the document is finished,
what cancel/refusal/deadline do, custom fields, and which documents are not for signdeal at all.
The `DealPlan` builds every body it implies (create, update, a signer's new contact) in one go;
nothing edits a body afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.crm_writer.mapping_file import DealMapping, MappingFile, OnCancel
from services.crm_writer.rd_text import contact_name, left_out, rd_text
from services.crm_writer.templates import TitleTemplate
from shared.event_kinds import Links, kind_of
from shared.events import SignedDocumentEvent, Signer, parse_timestamp


@dataclass(frozen=True)
class DealSettings:
    """Where and how deals are created, from the environment and the optional mapping file."""

    stage_id: str
    title: TitleTemplate
    owner_id: str | None = None
    document_key_field_id: str | None = None
    lock_timeout_seconds: float = 120.0
    mapping: MappingFile | None = None


@dataclass(frozen=True)
class Skip:
    """The event changes nothing in RD; ``reason`` goes to the history."""

    reason: str


@dataclass(frozen=True)
class DealPlan:
    rule: str
    title: str
    create_stage_id: str
    may_create: bool
    owner_id: str | None = None
    custom_fields: list[dict[str, str]] = field(default_factory=list)
    move_to_stage_id: str | None = None
    win: bool | None = None
    lost_reason_id: str | None = None
    contact_title: TitleTemplate | None = None
    contact_fields: dict[str, TitleTemplate] = field(default_factory=dict)
    # Rank of this event in a document's life, and of the stages later events move deals to:
    # a late event never moves a deal back from a stage a later event put it in.
    event_rank: int | None = None
    stage_ranks: dict[str, int] = field(default_factory=dict)
    # When the event happened (Clicksign's occurred_at), if it says: an older event arriving
    # after a newer one does not write a custom field over the newer one's value.
    event_at: datetime | None = None
    # Values RD would refuse (blank, one character), left out: the history says which.
    left_out: tuple[str, ...] = ()
    # When RD no longer has the document's deal: create it again, or leave the document alone.
    recreate_deleted: bool = True

    def keeps_current_stage(self, current_stage_id: str | None) -> bool:
        """True when the deal already sits in a stage of a later point of the document's life."""
        if self.event_rank is None or current_stage_id is None:
            return False
        return self.stage_ranks.get(current_stage_id, 0) > self.event_rank

    def without_stage_move(self) -> DealPlan:
        return replace(self, move_to_stage_id=None)

    def fields_written_later(self, field_times: dict[str, datetime]) -> list[str]:
        """This plan's custom fields that an event newer than this one already wrote."""
        if self.event_at is None:
            return []
        return [
            entry["custom_field_id"]
            for entry in self.custom_fields
            if (written := field_times.get(entry["custom_field_id"])) is not None
            and written > self.event_at
        ]

    def without_fields(self, field_ids: list[str]) -> DealPlan:
        kept = [entry for entry in self.custom_fields if entry["custom_field_id"] not in field_ids]
        return replace(self, custom_fields=kept)

    def field_times_after(self, field_times: dict[str, datetime]) -> dict[str, datetime] | None:
        """``field_times`` once this plan's fields are written; None when nothing changes."""
        if self.event_at is None or not self.custom_fields:
            return None
        updated = dict(field_times)
        for entry in self.custom_fields:
            field_id = entry["custom_field_id"]
            if field_id not in updated or updated[field_id] < self.event_at:
                updated[field_id] = self.event_at
        return updated if updated != field_times else None

    def create_body(self) -> dict[str, Any]:
        return deal_create_body(
            name=self.title,
            stage_id=self.create_stage_id,
            owner_id=self.owner_id,
            custom_fields=self.custom_fields,
            win=self.win,
        )

    def update_body(self) -> dict[str, Any] | None:
        return deal_update_body(
            stage_id=self.move_to_stage_id,
            custom_fields=self.custom_fields,
            win=self.win,
            lost_reason_id=self.lost_reason_id,
        )

    def contact_body(
        self, event: SignedDocumentEvent, signer: Signer, deal_ids: list[str], notes: list[str]
    ) -> dict[str, Any]:
        """The new contact for ``signer``, its templates rendered with that signer; values RD
        would refuse are left out, and ``notes`` says which."""
        about_signer = event.model_copy(update={"signer": signer})
        title = None
        if self.contact_title is not None:
            title = self.contact_title.render_value(about_signer)
            if not rd_text(title):
                notes.append(left_out("contact title", title))
                title = None
        fields = _kept_fields(
            "contact custom field",
            [
                (field_id, template.render_value(about_signer))
                for field_id, template in self.contact_fields.items()
            ],
            notes,
        )
        return contact_create_body(signer, deal_ids, title=title, custom_fields=fields)


@dataclass(frozen=True)
class EventDecisions:
    """What the event itself decides about its deal; the rest of a plan comes from the rule."""

    may_create: bool
    create_stage_id: str
    move_to_stage_id: str | None = None
    win: bool | None = None
    lost_reason_id: str | None = None
    event_rank: int | None = None
    stage_ranks: dict[str, int] = field(default_factory=dict)


def plan_deal(event: SignedDocumentEvent, settings: DealSettings) -> DealPlan | Skip:
    """The deal changes ``event`` calls for, or why it calls for none."""
    mapping = settings.mapping or MappingFile()
    chosen = mapping.deal_for(event)
    if chosen is None:
        return Skip("the document matches no rule of the mapping file")
    rule, deal = chosen
    if is_cancellation(event):
        return _plan_cancellation(event, settings, mapping, rule, deal)
    event_stage = deal.stages.get(event.event_name)
    finished = event.kind.finishes
    decided = EventDecisions(
        may_create=True,
        create_stage_id=event_stage or deal.stage_id or settings.stage_id,
        move_to_stage_id=event_stage,
        win=True if finished and deal.won_on_finish else None,
        event_rank=event.kind.rank,
        stage_ranks=_stage_ranks(deal),
    )
    return _plan(event, settings, mapping, rule, deal, decided)


def _stage_ranks(deal: DealMapping) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for event_name, stage_id in deal.stages.items():
        rank = kind_of(event_name).rank or 0
        ranks[stage_id] = max(ranks.get(stage_id, 0), rank)
    return ranks


def is_cancellation(event: SignedDocumentEvent) -> bool:
    """``cancel``, ``refusal``, and a ``deadline`` that cancelled the document (no signature)."""
    return event.kind.cancels_document(event.document.status)


def _plan_cancellation(
    event: SignedDocumentEvent,
    settings: DealSettings,
    mapping: MappingFile,
    rule: str,
    deal: DealMapping,
) -> DealPlan | Skip:
    on_cancel = deal.on_cancel or OnCancel()
    if on_cancel.action == "ignore":
        return Skip(f"{event.event_name} is ignored (deal.on_cancel.action = ignore)")
    losing = on_cancel.action == "lose"
    decided = EventDecisions(
        may_create=False,
        create_stage_id=deal.stage_id or settings.stage_id,
        move_to_stage_id=on_cancel.stage_id,
        win=False if losing else None,
        lost_reason_id=on_cancel.lost_reason_id if losing else None,
    )
    return _plan(event, settings, mapping, rule, deal, decided)


def _plan(
    event: SignedDocumentEvent,
    settings: DealSettings,
    mapping: MappingFile,
    rule: str,
    deal: DealMapping,
    decided: EventDecisions,
) -> DealPlan:
    title = TitleTemplate(deal.title) if deal.title else settings.title
    notes: list[str] = []
    custom_fields = document_key_custom_field(settings.document_key_field_id, event.document_key)
    custom_fields += _kept_fields(
        "deal custom field",
        [
            (field_id, TitleTemplate(template).render_value(event))
            for field_id, template in deal.custom_fields.items()
        ],
        notes,
    )
    contact = mapping.contact
    return DealPlan(
        rule=rule,
        title=title.render(event),
        owner_id=deal.owner_id or settings.owner_id,
        custom_fields=custom_fields,
        left_out=tuple(notes),
        recreate_deleted=deal.recreate_deleted is not False,
        contact_title=TitleTemplate(contact.title) if contact.title else None,
        contact_fields={key: TitleTemplate(value) for key, value in contact.custom_fields.items()},
        event_at=parse_timestamp(event.occurred_at),
        may_create=decided.may_create,
        create_stage_id=decided.create_stage_id,
        move_to_stage_id=decided.move_to_stage_id,
        win=decided.win,
        lost_reason_id=decided.lost_reason_id,
        event_rank=decided.event_rank,
        stage_ranks=decided.stage_ranks,
    )


def _kept_fields(
    label: str, values: list[tuple[str, str]], notes: list[str]
) -> list[dict[str, str]]:
    """``[{custom_field_id, value}]`` for the values RD takes; ``notes`` says which were not."""
    kept = []
    for field_id, value in values:
        if rd_text(value):
            kept.append({"custom_field_id": field_id, "value": value})
        else:
            notes.append(left_out(f"{label} {field_id}", value))
    return kept


def signers_to_link(event: SignedDocumentEvent) -> list[Signer]:
    """The signers this event adds to the deal's contacts (whom its kind links: the signer,
    every signer of the document, or nobody), without duplicates or blank e-mails."""
    links = event.kind.links
    if links is Links.THE_SIGNER:
        candidates = [event.signer] if event.signer else []
    elif links is Links.EVERY_SIGNER:
        candidates = list(event.signers)
    else:
        candidates = []
    unique: dict[str, Signer] = {}
    for signer in candidates:
        if signer is not None and signer.email:
            unique.setdefault(signer.email.lower(), signer)
    return list(unique.values())


# -- the RD Station request bodies a plan implies ------------------------------------------


def deal_create_body(
    *,
    name: str,
    stage_id: str,
    owner_id: str | None = None,
    custom_fields: list[dict[str, str]] | None = None,
    win: bool | None = None,
) -> dict[str, Any]:
    """``POST /deals``: everything inside ``deal``, no inline contacts (they always duplicate)."""
    deal: dict[str, Any] = {"name": name, "deal_stage_id": stage_id}
    if owner_id:
        deal["user_id"] = owner_id
    if custom_fields:
        deal["deal_custom_fields"] = custom_fields
    if win is not None:
        deal["win"] = win
    return {"deal": deal}


def deal_update_body(
    *,
    stage_id: str | None = None,
    custom_fields: list[dict[str, str]] | None = None,
    win: bool | None = None,
    lost_reason_id: str | None = None,
) -> dict[str, Any] | None:
    """``PUT /deals/{id}``; ``deal_stage_id`` at the top level, where RD actually reads it. A lost
    reason goes along only with a change (losing the deal sets ``win``)."""
    body: dict[str, Any] = {}
    deal: dict[str, Any] = {}
    if stage_id:
        body["deal_stage_id"] = stage_id
    if custom_fields:
        deal["deal_custom_fields"] = custom_fields
    if win is not None:
        deal["win"] = win
    if lost_reason_id and (body or deal):
        deal["deal_lost_reason_id"] = lost_reason_id
    if deal:
        body["deal"] = deal
    return body or None


def document_key_custom_field(field_id: str | None, document_key: str) -> list[dict[str, str]]:
    """The deal custom field that carries the Clicksign document key, when one is configured."""
    return [{"custom_field_id": field_id, "value": document_key}] if field_id else []


def contact_create_body(
    signer: Signer,
    deal_ids: list[str],
    *,
    title: str | None = None,
    custom_fields: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """``POST /contacts`` for a signer, already linked to ``deal_ids``."""
    email = signer.email or ""
    contact: dict[str, Any] = {
        "name": contact_name(signer),
        "emails": [{"email": email}],
        "deal_ids": deal_ids,
    }
    phone = rd_text(signer.phone_number)
    if phone:
        contact["phones"] = [{"phone": phone, "type": "cellphone"}]
    if title:
        contact["title"] = title
    if custom_fields:
        contact["contact_custom_fields"] = custom_fields
    return contact
