"""Create or update exactly one RD Station deal per Clicksign document, every signer linked.

One event, in order: serialise on the document (a store lock, so it holds across replicas);
complete a thin webhook from Clicksign's API (`enrichment`); find the document's deal, recover it
after a crash, or create it; then, per signer, find or create the contact (serialised on the
e-mail) and link it to the deal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.crm_writer.clicksign import ClicksignClient
from services.crm_writer.deal_plan import DealPlan, DealSettings, Skip, plan_deal, signers_to_link
from services.crm_writer.enrichment import complete_event
from services.crm_writer.rd_text import disambiguated_contact_name
from services.crm_writer.rdstation import (
    RdCall,
    RdStationClient,
    RdStationNotFound,
    RdStationRejected,
)
from services.crm_writer.rdstation.resources import RdContact, RdDeal, oldest, rd_id
from services.crm_writer.store import DocumentRecord, Outcome, Store
from shared.events import SignedDocumentEvent, Signer
from shared.logging import get_logger
from shared.pseudonyms import email_ref

log = get_logger()

# A deal RD created before our intent row was written cannot exist; allow for clock skew.
_RECOVERY_CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class DealResult:
    outcome: Outcome
    deal_id: str | None
    contact_ids: tuple[str, ...] = ()
    note: str | None = None


class DealPipeline:
    """Runs one event against RD Station and the store. Raises on failure; the caller decides
    whether to retry or park."""

    def __init__(
        self,
        store: Store,
        rd: RdStationClient,
        settings: DealSettings,
        clicksign: ClicksignClient | None = None,
    ) -> None:
        self.store = store
        self.rd = rd
        self.settings = settings
        self.clicksign = clicksign

    def document_lock(self, event: SignedDocumentEvent) -> AbstractAsyncContextManager[None]:
        """Serialises everything done for one document, across processes."""
        return self.store.lock(
            f"document:{event.document_key}", timeout=self.settings.lock_timeout_seconds
        )

    async def process(self, event: SignedDocumentEvent, calls: list[RdCall]) -> DealResult:
        """`apply` under the document's lock."""
        async with self.document_lock(event):
            return await self.apply(event, calls)

    async def apply(self, event: SignedDocumentEvent, calls: list[RdCall]) -> DealResult:
        """Apply ``event``, holding `document_lock`; Clicksign and RD requests are appended to
        ``calls``."""
        clicksign = self.clicksign.recording(calls) if self.clicksign is not None else None
        completed, completion = await complete_event(event, clicksign)
        if completed is not event:
            # The history shows, searches and erases by who the event really concerns.
            await self.store.record_completion(completed)
            event = completed
        plan = plan_deal(event, self.settings)
        if isinstance(plan, Skip):
            log.info("event.ignored", reason=plan.reason)
            return DealResult(Outcome.IGNORED, None, note=_notes(completion, plan.reason))
        rd = self.rd.recording(calls)
        notes = list(plan.left_out)
        try:
            return await self._write(rd, event, plan, notes, completion)
        except DealVanished as vanished:
            if not plan.recreate_deleted:
                # The document keeps its deal id: every later event of it finds the deal gone
                # and is left alone too, instead of creating the deal the mapping says not to.
                reason = (
                    f"RD no longer has the document's deal {vanished.deal_id} (deleted or "
                    "merged); left alone, as deal.recreate_deleted = false says"
                )
                log.warning("deal.vanished", deal_id=vanished.deal_id, recreated=False)
                return DealResult(Outcome.IGNORED, None, note=_notes(completion, reason))
            await self.store.forget_deal(event.document_key, vanished.deal_id)
            log.warning("deal.vanished", deal_id=vanished.deal_id, recreated=True)
            notes.append(
                f"RD no longer had the document's deal {vanished.deal_id} (deleted or merged): "
                "a new one was created"
            )
            return await self._write(rd, event, plan, notes, completion)

    async def _write(
        self,
        rd: RdStationClient,
        event: SignedDocumentEvent,
        plan: DealPlan,
        notes: list[str],
        completion: str | None,
    ) -> DealResult:
        """The deal made or updated, then every signer linked."""
        found = await self._ensure_deal(rd, event, plan)
        if found is None:
            reason = "no deal exists for this document, so there is nothing to change"
            log.info("event.ignored", reason=reason)
            return DealResult(Outcome.IGNORED, None, note=_notes(completion, reason))
        deal_id, outcome = found
        try:
            contact_ids = [
                await self._link_signer(rd, event, plan, signer, deal_id, notes)
                for signer in signers_to_link(event)
            ]
        except RdStationRejected as exc:
            # RD refuses to link a contact to a deal it no longer has ("Negociação … não
            # encontrada" under deal_ids): the deal was deleted while the update needed no call.
            if "deal_ids" in exc.fields:
                raise DealVanished(deal_id) from exc
            raise
        return DealResult(outcome, deal_id, tuple(contact_ids), note=_notes(completion, *notes))

    # -- the deal -----------------------------------------------------------------------------

    async def _ensure_deal(
        self, rd: RdStationClient, event: SignedDocumentEvent, plan: DealPlan
    ) -> tuple[str, Outcome] | None:
        """The document's deal, updated as the plan says, or created; None if it may not be."""
        document = await self.store.get_document(event.document_key)
        deal_id = document.deal_id if document is not None else None
        if deal_id is None and document is not None and document.intent_at is not None:
            deal_id = await self._recover_deal(rd, document)
            if deal_id is not None:
                await self.store.record_deal(event.document_key, deal_id)
                log.warning("deal.recovered", deal_id=deal_id)
                await self._update_deal(rd, deal_id, plan, document)
                return deal_id, Outcome.CREATED
        if deal_id is not None and document is not None:
            log.info("deal.found", deal_id=deal_id)
            try:
                await self._update_deal(rd, deal_id, plan, document)
            except RdStationNotFound as exc:
                if exc.path == f"/deals/{deal_id}":
                    raise DealVanished(deal_id) from exc
                raise
            return deal_id, Outcome.UPDATED
        if not plan.may_create:
            return None
        return await self._create_deal(rd, event, plan, document), Outcome.CREATED

    async def _create_deal(
        self,
        rd: RdStationClient,
        event: SignedDocumentEvent,
        plan: DealPlan,
        document: DocumentRecord | None,
    ) -> str:
        # The intent is stored before RD is called: if we die after RD created the deal but
        # before its id is stored, the next attempt looks the deal up instead of doubling it.
        # The fields' times go with it, so an older event handled after such a crash does not
        # write over the fields the deal was created with.
        field_times = plan.field_times_after(document.field_times if document else {})
        await self.store.record_deal_intent(event.document_key, plan.title, field_times=field_times)
        with stage_named_in_refusal(plan.create_stage_id):
            deal_id = rd_id(await rd.create_deal(plan.create_body()))
        await self._forget_reused(deal_id, event.document_key)
        await self.store.record_deal(event.document_key, deal_id)
        log.info("deal.created", deal_id=deal_id, stage_id=plan.create_stage_id, rule=plan.rule)
        return deal_id

    async def _update_deal(
        self, rd: RdStationClient, deal_id: str, plan: DealPlan, document: DocumentRecord
    ) -> None:
        if plan.move_to_stage_id and plan.stage_ranks:
            current = RdDeal(await rd.get_deal(deal_id)).stage_id
            if plan.keeps_current_stage(current):
                log.info("deal.stage_kept", deal_id=deal_id, stage_id=current)
                plan = plan.without_stage_move()
        newer = plan.fields_written_later(document.field_times)
        if newer:
            # Clicksign does not promise order: a newer event's values stay.
            log.info("deal.fields_kept", deal_id=deal_id, custom_field_ids=newer)
            plan = plan.without_fields(newer)
        body = plan.update_body()
        if body is None:
            return
        with stage_named_in_refusal(plan.move_to_stage_id):
            await rd.update_deal(deal_id, body)
        field_times = plan.field_times_after(document.field_times)
        if field_times is not None:
            await self.store.record_field_times(document.document_key, field_times)
        log.info(
            "deal.updated",
            deal_id=deal_id,
            stage_id=plan.move_to_stage_id,
            win=plan.win,
            rule=plan.rule,
        )

    async def _forget_reused(self, deal_id: str, document_key: str) -> None:
        """RD gave a new deal an id the store holds for another document: that mapping is stale
        (an RD that was reset, such as a restarted sandbox), and would make the store refuse
        this one. Real RD ids are never reused, so the other document's deal is gone."""
        holder = await self.store.find_document_by_deal(deal_id)
        if holder is not None and holder.document_key != document_key:
            log.warning("deal.id_reused", deal_id=deal_id)
            await self.store.forget_deal(holder.document_key, deal_id)

    async def _recover_deal(self, rd: RdStationClient, document: DocumentRecord) -> str | None:
        """After a crash between "RD created the deal" and "we stored its id": find that deal."""
        if not document.deal_name:
            return None
        candidates = []
        for found in await rd.find_deals_by_name(document.deal_name):
            deal = RdDeal(found)
            owner = await self.store.find_document_by_deal(deal.id)
            if owner is not None and owner.document_key != document.document_key:
                continue
            if self._belongs_to(deal, document):
                candidates.append(found)
        if not candidates:
            log.info("deal.recovery_found_nothing")
            return None
        return rd_id(oldest(candidates))

    def _belongs_to(self, deal: RdDeal, document: DocumentRecord) -> bool:
        field_id = self.settings.document_key_field_id
        if field_id:
            value = deal.custom_field_value(field_id)
            if value is not None:
                return value == document.document_key
        created = deal.created_at
        if created is None or document.intent_at is None:
            return True
        return created >= document.intent_at - _RECOVERY_CLOCK_SKEW

    # -- contacts -----------------------------------------------------------------------------

    async def _link_signer(
        self,
        rd: RdStationClient,
        event: SignedDocumentEvent,
        plan: DealPlan,
        signer: Signer,
        deal_id: str,
        notes: list[str],
    ) -> str:
        """Find or create the signer's contact and make sure it is linked to the deal."""
        email = (signer.email or "").lower()
        async with self.store.lock(f"contact:{email}", timeout=self.settings.lock_timeout_seconds):
            contact_id = await self.store.get_contact_id(email)
            if contact_id is not None and await self._link_known(rd, contact_id, deal_id):
                return contact_id
            matches = await rd.find_contacts_by_email(email)
            if matches:
                contact_id = rd_id(oldest(matches))
                if len(matches) > 1:
                    log.warning(
                        "contact.ambiguous",
                        email_ref=email_ref(email),
                        contact_id=contact_id,
                        matches=len(matches),
                    )
                await self.store.record_contact(email, contact_id)
                await self._link_known(rd, contact_id, deal_id)
                return contact_id
            body = plan.contact_body(event, signer, [deal_id], notes)
            contact_id = rd_id(await self._create_contact(rd, body, signer, notes))
            await self.store.record_contact(email, contact_id)
            log.info("contact.created", contact_id=contact_id, deal_id=deal_id)
            return contact_id

    async def _create_contact(
        self, rd: RdStationClient, body: dict[str, Any], signer: Signer, notes: list[str]
    ) -> dict[str, Any]:
        """Create the contact; RD's docs say a contact name "não pode se repetir", so a name it
        refuses is made unique with the signer's e-mail (another person of the same name)."""
        try:
            return await rd.create_contact(body)
        except RdStationRejected as exc:
            if "name" not in exc.fields:
                raise
            name = disambiguated_contact_name(signer)
            notes.append(
                f"contact name {body['name']!r} refused by RD ({exc.message}); created as {name!r}"
            )
            log.info("contact.name_disambiguated")
            return await rd.create_contact({**body, "name": name})

    async def _link_known(self, rd: RdStationClient, contact_id: str, deal_id: str) -> bool:
        """Link an existing contact; False if RD no longer knows it."""
        try:
            contact = RdContact(await rd.get_contact(contact_id))
        except RdStationNotFound:
            log.warning("contact.vanished", contact_id=contact_id)
            return False
        deal_ids = contact.deal_ids_with(deal_id)
        if deal_ids is None:
            log.info("contact.already_linked", contact_id=contact_id, deal_id=deal_id)
            return True
        await rd.update_contact(contact_id, {"deal_ids": deal_ids})
        log.info("contact.linked", contact_id=contact_id, deal_id=deal_id)
        return True


class DealVanished(Exception):
    """RD no longer has the document's deal (404 on it, or a link to it refused)."""

    def __init__(self, deal_id: str) -> None:
        super().__init__(deal_id)
        self.deal_id = deal_id


@contextmanager
def stage_named_in_refusal(stage_id: str | None) -> Iterator[None]:
    """A refusal of the deal's stage (a stage deleted in RD) parks with what to do about it."""
    try:
        yield
    except RdStationRejected as exc:
        if "deal_stage_id" not in exc.fields:
            raise
        raise RdStationRejected(
            f"the stage {stage_id} no longer exists in RD Station ({exc.message}): pick one "
            "with `signdeal rd stages`, set it in RDSTATION_DEAL_STAGE_ID or the mapping file, "
            "then replay the event",
            fields=exc.fields,
            status=exc.status,
            path=exc.path,
        ) from exc


def _notes(*notes: str | None) -> str | None:
    return "; ".join(note for note in notes if note) or None
