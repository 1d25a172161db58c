"""What one event should do to its deal, decided before any request: a pure function.

The environment gives the defaults (stage, title, owner); the optional mapping file refines them
per rule and per event: the stage an event moves the deal to, won when the document is finished,
what cancel/refusal/deadline do, custom fields, and which documents are not for signdeal at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.crm_writer.config_file import DealMapping, MappingFile, OnCancel
from services.crm_writer.mapping import (
    TitleTemplate,
    contact_create_body,
    deal_create_body,
    deal_update_body,
    document_key_custom_field,
    left_out,
    rd_text,
)
from shared.event_kinds import kind_of
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
        body = deal_create_body(
            name=self.title,
            stage_id=self.create_stage_id,
            owner_id=self.owner_id,
            custom_fields=self.custom_fields,
        )
        if self.win is not None:
            body["deal"]["win"] = self.win
        return body

    def update_body(self) -> dict[str, Any] | None:
        body = deal_update_body(
            stage_id=self.move_to_stage_id, custom_fields=self.custom_fields, win=self.win
        )
        if body is not None and self.lost_reason_id:
            body.setdefault("deal", {})["deal_lost_reason_id"] = self.lost_reason_id
        return body

    def contact_body(
        self, event: SignedDocumentEvent, signer: Signer, deal_ids: list[str], notes: list[str]
    ) -> dict[str, Any]:
        """The new contact for ``signer``, its templates rendered with that signer; values RD
        would refuse are left out, and ``notes`` says which."""
        about_signer = event.model_copy(update={"signer": signer})
        body = contact_create_body(signer, deal_ids)
        if self.contact_title is not None:
            title = self.contact_title.render_value(about_signer)
            if rd_text(title):
                body["title"] = title
            else:
                notes.append(left_out("contact title", title))
        fields = _kept_fields(
            "contact custom field",
            [
                (field_id, template.render_value(about_signer))
                for field_id, template in self.contact_fields.items()
            ],
            notes,
        )
        if fields:
            body["contact_custom_fields"] = fields
        return body


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
    return _plan(
        event,
        settings,
        mapping,
        rule,
        deal,
        may_create=True,
        create_stage_id=event_stage or deal.stage_id or settings.stage_id,
        move_to_stage_id=event_stage,
        win=True if finished and deal.won_on_finish else None,
        event_rank=event.kind.rank,
        stage_ranks=_stage_ranks(deal),
    )


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
    return _plan(
        event,
        settings,
        mapping,
        rule,
        deal,
        may_create=False,
        create_stage_id=deal.stage_id or settings.stage_id,
        move_to_stage_id=on_cancel.stage_id,
        win=False if losing else None,
        lost_reason_id=on_cancel.lost_reason_id if losing else None,
    )


def _plan(
    event: SignedDocumentEvent,
    settings: DealSettings,
    mapping: MappingFile,
    rule: str,
    deal: DealMapping,
    **decided: Any,
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
        **decided,
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
