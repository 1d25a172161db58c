"""`SandboxState`: the in-memory RD account (users, pipelines, custom fields, contacts, deals).

Only checked changes reach this module (see `contact_payloads` and `deal_payloads`); it stores
them, links contacts to deals and answers lookups. Contacts own the contact-deal link
(``deal_ids``), as in RD v1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.rdstation.changes import ContactChanges, DealChanges, NewDeal, ProductInput
from sandbox.rdstation.ids import ObjectIdFactory, utc_now
from sandbox.rdstation.models import (
    Contact,
    CustomField,
    CustomValue,
    Deal,
    DealProduct,
    Email,
    FieldOwner,
    FieldType,
    Phone,
    Pipeline,
    Stage,
    StageHistory,
    User,
)
from sandbox.rdstation.seed import ORGANIZATION_NAME, SeedIds, build_seed

_PLAIN_CONTACT_FIELDS = (
    "name", "title", "birthday", "organization_id", "legal_bases",
    "facebook", "linkedin", "skype", "notes",
)  # fmt: skip
_PLAIN_DEAL_FIELDS = (
    "name", "user_id", "rating", "prediction_date", "hold", "deal_lost_reason_id",
    "deal_lost_note", "organization", "deal_source", "campaign",
)  # fmt: skip


@dataclass
class AccountSnapshot:
    """What `SandboxState` holds, as plain records: for its state file."""

    seed: str
    ids_issued: int
    last_sequence: int
    organization_name: str
    users: list[User]
    pipelines: list[Pipeline]
    custom_fields: list[CustomField]
    contacts: list[Contact]
    deals: list[Deal]


class SandboxState:
    """Everything the sandbox remembers. `reset` brings back the seeded account."""

    def __init__(self, seed: str = "signdeal", clock: Callable[[], datetime] = utc_now) -> None:
        self._seed = seed
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self._new_id = ObjectIdFactory(self._seed)
        self._last_sequence = 0
        seeded = build_seed(self._new_id)
        self.organization_name = ORGANIZATION_NAME
        self.ids: SeedIds = seeded.ids
        self.users: list[User] = seeded.users
        self.pipelines: list[Pipeline] = seeded.pipelines
        self.custom_fields: list[CustomField] = seeded.custom_fields
        self._contacts: dict[str, Contact] = {}
        # Case-folded e-mail -> ids of the contacts carrying it, in creation order, compared as
        # `Contact.has_email` does: the e-mail search stays cheap with tens of thousands of
        # contacts (the benchmarks' backlogs).
        self._by_email: dict[str, dict[str, None]] = {}
        # Case-folded name -> the contact holding it (names are unique, see contact_payloads).
        self._by_name: dict[str, str] = {}
        self._deals: dict[str, Deal] = {}

    def new_id(self) -> str:
        return self._new_id.next()

    def _next_sequence(self) -> int:
        self._last_sequence += 1
        return self._last_sequence

    # -- kept across restarts (`sandbox.state_file`) ------------------------------------------

    def snapshot(self) -> AccountSnapshot:
        """Everything this state holds, with where its id and sequence counters are."""
        return AccountSnapshot(
            seed=self._seed,
            ids_issued=self._new_id.issued,
            last_sequence=self._last_sequence,
            organization_name=self.organization_name,
            users=list(self.users),
            pipelines=list(self.pipelines),
            custom_fields=list(self.custom_fields),
            contacts=self.contacts,
            deals=self.deals,
        )

    def restore(self, snapshot: AccountSnapshot) -> None:
        """Become the state ``snapshot`` was taken of; new ids and sequence numbers continue
        after the ones it had given. ValueError if it was made with another seed."""
        if snapshot.seed != self._seed:
            raise ValueError(f"it was made with seed {snapshot.seed!r}, not {self._seed!r}")
        self.reset()
        self._new_id = ObjectIdFactory(self._seed, issued=snapshot.ids_issued)
        self._last_sequence = snapshot.last_sequence
        self.organization_name = snapshot.organization_name
        self.users = list(snapshot.users)
        self.pipelines = list(snapshot.pipelines)
        self.custom_fields = list(snapshot.custom_fields)
        for contact in snapshot.contacts:
            self._contacts[contact.id] = contact
            self._by_name.setdefault(contact.name.strip().casefold(), contact.id)
            for email in contact.emails:
                self._by_email.setdefault(email.email.casefold(), {})[contact.id] = None
        self._deals = {deal.id: deal for deal in snapshot.deals}

    def now(self) -> datetime:
        return self._clock()

    # -- account ------------------------------------------------------------------------------

    @property
    def owner(self) -> User:
        return self.user(self.ids.owner_user_id) or self.users[0]

    @property
    def default_pipeline(self) -> Pipeline:
        return min(self.pipelines, key=lambda pipeline: pipeline.order)

    @property
    def default_pipeline_id(self) -> str:
        return self.default_pipeline.id

    @property
    def default_stage_id(self) -> str:
        """Where a deal created without ``deal_stage_id`` lands: the default pipeline's first."""
        return self.default_pipeline.stages[0].id

    def user(self, user_id: str) -> User | None:
        return next((user for user in self.users if user.id == user_id), None)

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.id == pipeline_id), None)

    def stage(self, stage_id: str) -> Stage | None:
        stages = (stage for pipeline in self.pipelines for stage in pipeline.stages)
        return next((stage for stage in stages if stage.id == stage_id), None)

    def stage_id(self, name: str, pipeline_id: str | None = None) -> str:
        """The id of the stage called ``name`` (in the default pipeline unless told otherwise)."""
        pipeline = self.pipeline(pipeline_id) if pipeline_id else self.default_pipeline
        for stage in pipeline.stages if pipeline else ():
            if stage.name == name:
                return stage.id
        raise KeyError(name)

    def custom_field(self, field_id: str, for_: FieldOwner | None = None) -> CustomField | None:
        found = next((f for f in self.custom_fields if f.id == field_id), None)
        if found is None or (for_ is not None and found.for_ != for_):
            return None
        return found

    def custom_fields_for(self, for_: FieldOwner) -> list[CustomField]:
        return sorted((f for f in self.custom_fields if f.for_ == for_), key=lambda f: f.order)

    def add_custom_field(
        self,
        label: str,
        type_: FieldType,
        for_: FieldOwner,
        *,
        opts: list[str] | None = None,
        required: bool = False,
        unique: bool = False,
        allow_new: bool = False,
    ) -> CustomField:
        now = self.now()
        order = len(self.custom_fields_for(for_)) + 1
        custom = CustomField(self.new_id(), label, type_, for_, order, now, now, opts or [])
        custom.required, custom.unique, custom.allow_new = required, unique, allow_new
        self.custom_fields.append(custom)
        return custom

    def custom_value_taken(
        self, field_id: str, value: Any, for_: FieldOwner, exclude_id: str | None = None
    ) -> bool:
        """Whether another deal or contact already holds ``value`` in a unique field."""
        owners: list[Deal] | list[Contact] = self.deals if for_ == "deal" else self.contacts
        return any(
            owner.id != exclude_id
            and any(v.custom_field_id == field_id and v.value == value for v in owner.custom_values)
            for owner in owners
        )

    # -- contacts -----------------------------------------------------------------------------

    @property
    def contacts(self) -> list[Contact]:
        return list(self._contacts.values())

    def contact(self, contact_id: str) -> Contact | None:
        return self._contacts.get(contact_id)

    def contacts_with_email(self, email: str) -> list[Contact]:
        """Every contact carrying ``email`` (any case): RD does not keep e-mails unique."""
        ids = self._by_email.get(email.strip().casefold(), {})
        return [self._contacts[contact_id] for contact_id in ids]

    def contact_named(self, name: str) -> Contact | None:
        """The contact called ``name`` (trimmed, any case), if any."""
        contact_id = self._by_name.get(name.strip().casefold())
        return None if contact_id is None else self._contacts.get(contact_id)

    def contacts_of_deal(self, deal_id: str) -> list[Contact]:
        return [contact for contact in self._contacts.values() if deal_id in contact.deal_ids]

    def create_contact(self, changes: ContactChanges) -> Contact:
        now = self.now()
        contact = Contact(self.new_id(), self._next_sequence(), changes["name"], now, now)
        self._apply_contact_changes(contact, changes, now)
        self._contacts[contact.id] = contact
        return contact

    def update_contact(self, contact: Contact, changes: ContactChanges) -> Contact:
        now = self.now()
        self._apply_contact_changes(contact, changes, now)
        contact.updated_at = now
        return contact

    def _apply_contact_changes(
        self, contact: Contact, changes: ContactChanges, now: datetime
    ) -> None:
        if self._by_name.get(contact.name.strip().casefold()) == contact.id:
            del self._by_name[contact.name.strip().casefold()]
        for name in _PLAIN_CONTACT_FIELDS:
            if name in changes:
                setattr(contact, name, changes[name])  # type: ignore[literal-required]
        self._by_name.setdefault(contact.name.strip().casefold(), contact.id)
        if "emails" in changes:
            for old in contact.emails:
                self._by_email.get(old.email.casefold(), {}).pop(contact.id, None)
            contact.emails = [Email(self.new_id(), email, now) for email in changes["emails"]]
            for new in contact.emails:
                self._by_email.setdefault(new.email.casefold(), {})[contact.id] = None
        if "phones" in changes:
            contact.phones = [
                Phone(self.new_id(), number, kind, now) for number, kind in changes["phones"]
            ]
        if "deal_ids" in changes:
            # The safe reading of the docs: the list replaces the contact's deals.
            contact.deal_ids = list(dict.fromkeys(changes["deal_ids"]))
        if "custom_values" in changes:
            contact.custom_values = _merged(contact.custom_values, changes["custom_values"], now)

    # -- deals --------------------------------------------------------------------------------

    @property
    def deals(self) -> list[Deal]:
        return list(self._deals.values())

    def deal(self, deal_id: str) -> Deal | None:
        return self._deals.get(deal_id)

    def delete_deal(self, deal_id: str) -> bool:
        """What a salesperson does in RD's web app (the v1 API cannot): the deal is gone and no
        contact lists it any more. False when there was no such deal."""
        if self._deals.pop(deal_id, None) is None:
            return False
        for contact in self._contacts.values():
            if deal_id in contact.deal_ids:
                contact.deal_ids = [kept for kept in contact.deal_ids if kept != deal_id]
        return True

    def deals_named(self, name: str) -> list[Deal]:
        return [deal for deal in self._deals.values() if deal.name == name]

    def create_deal(self, new: NewDeal) -> Deal:
        """Store a checked deal and create its inline contacts (always new ones, as RD does)."""
        now = self.now()
        changes = new.deal
        stage_id = changes.get("stage_id", self.default_stage_id)
        user_id = changes.get("user_id", self.owner.id)
        deal = Deal(
            self.new_id(), self._next_sequence(), changes["name"], stage_id, user_id, now, now
        )
        deal.stage_histories.append(StageHistory(self.new_id(), stage_id, now))
        self._apply_deal_changes(deal, changes, now)
        deal.contact_errors = dict(new.contact_errors)
        self._deals[deal.id] = deal
        for contact in new.contacts:
            self.create_contact({**contact, "deal_ids": [deal.id]})
        return deal

    def update_deal(self, deal: Deal, changes: DealChanges, move_to_stage_id: str | None) -> Deal:
        now = self.now()
        self._apply_deal_changes(deal, changes, now)
        if move_to_stage_id is not None and move_to_stage_id != deal.stage_id:
            deal.stage_histories[-1].end_date = now
            deal.stage_histories.append(StageHistory(self.new_id(), move_to_stage_id, now))
            deal.stage_id = move_to_stage_id
        deal.updated_at = now
        return deal

    def _apply_deal_changes(self, deal: Deal, changes: DealChanges, now: datetime) -> None:
        for name in _PLAIN_DEAL_FIELDS:
            if name in changes:
                setattr(deal, name, changes[name])  # type: ignore[literal-required]
        if "win" in changes:
            deal.win = changes["win"]
            deal.closed_at = None if deal.win is None else now
        if "custom_values" in changes:
            deal.custom_values = _merged(deal.custom_values, changes["custom_values"], now)
        if "products" in changes:
            deal.products = [self._product(item, now) for item in changes["products"]]

    def _product(self, item: ProductInput, now: datetime) -> DealProduct:
        return DealProduct(self.new_id(), created_at=now, **item)

    def counts(self) -> dict[str, int]:
        return {
            "deals": len(self._deals),
            "contacts": len(self._contacts),
            "users": len(self.users),
        }


def _merged(
    current: list[CustomValue], updates: list[tuple[str, Any]], now: datetime
) -> list[CustomValue]:
    """Custom values merged by field id: sent fields change, the others stay."""
    by_field = {value.custom_field_id: value for value in current}
    for field_id, value in updates:
        existing = by_field.get(field_id)
        if existing is None:
            by_field[field_id] = CustomValue(field_id, value, now, now)
        else:
            existing.value, existing.updated_at = value, now
    return list(by_field.values())
