"""The deal pipeline against the RD sandbox and both store backends."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from sandbox.clicksign import SampleSigner, make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.mapping_file import DealMapping, MappingFile
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import (
    RdCall,
    RdStationClient,
    RdStationRejected,
    RdStationUnavailable,
)
from services.crm_writer.store import Outcome, Store, open_store
from services.crm_writer.templates import TitleTemplate
from tests.clicksign_events import clicksign_event


def new_key() -> str:
    return str(uuid.uuid4())


def emails_of_deal(rd: SandboxServer, deal_id: str) -> set[str]:
    return {
        email.email.lower()
        for contact in rd.state.contacts_of_deal(deal_id)
        for email in contact.emails
    }


async def test_one_signer_creates_one_deal_in_the_stage_with_the_contact_linked(
    pipeline: DealPipeline, rd: SandboxServer, store: Store, deal_settings: DealSettings
) -> None:
    key = new_key()
    signer = make_signers(1)[0]
    calls: list[RdCall] = []

    result = await pipeline.process(clicksign_event("sign", key, [signer]), calls)

    assert result.outcome is Outcome.CREATED
    [deal] = rd.state.deals
    assert deal.id == result.deal_id
    assert deal.stage_id == deal_settings.stage_id
    assert deal.name == f"Contrato de Prestação de Serviços.pdf - {signer.name}"
    assert emails_of_deal(rd, deal.id) == {signer.email.lower()}
    assert (await store.get_document(key)).deal_id == deal.id  # type: ignore[union-attr]
    assert [(call.method, call.path) for call in calls][:2] == [
        ("POST", "/deals"),
        ("GET", "/contacts"),
    ]


async def test_second_signer_updates_existing_deal(
    pipeline: DealPipeline, rd: SandboxServer
) -> None:
    key, signers = new_key(), make_signers(2)
    first = await pipeline.process(clicksign_event("sign", key, signers, 0), [])
    second = await pipeline.process(clicksign_event("sign", key, signers, 1), [])

    assert second.outcome is Outcome.UPDATED
    assert second.deal_id == first.deal_id
    assert len(rd.state.deals) == 1
    assert emails_of_deal(rd, first.deal_id) == {s.email.lower() for s in signers}


async def test_three_concurrent_signers_then_finalisation_give_one_deal_three_contacts(
    pipeline: DealPipeline, rd: SandboxServer
) -> None:
    key, signers = new_key(), make_signers(3)
    await asyncio.gather(
        *(pipeline.process(clicksign_event("sign", key, signers, i), []) for i in range(3))
    )
    await pipeline.process(clicksign_event("auto_close", key, signers), [])
    await pipeline.process(clicksign_event("document_closed", key, signers), [])

    [deal] = rd.state.deals
    assert emails_of_deal(rd, deal.id) == {s.email.lower() for s in signers}
    assert len(rd.state.contacts) == 3


async def test_existing_contact_in_rd_is_reused_and_keeps_its_other_deals(
    pipeline: DealPipeline, rd: SandboxServer, rd_client: RdStationClient
) -> None:
    signer = make_signers(1)[0]
    other_deal = await rd_client.create_deal({"deal": {"name": "Negócio antigo"}})
    existing = await rd_client.create_contact(
        {
            "name": signer.name,
            "emails": [{"email": signer.email.upper()}],
            "deal_ids": [other_deal["_id"]],
        }
    )

    result = await pipeline.process(clicksign_event("sign", new_key(), [signer]), [])

    assert len(rd.state.contacts) == 1
    contact = rd.state.contact(existing["_id"])
    assert contact is not None
    assert set(contact.deal_ids) == {other_deal["_id"], result.deal_id}


async def test_same_signer_on_two_documents_is_one_contact_on_two_deals(
    pipeline: DealPipeline, rd: SandboxServer
) -> None:
    signer = make_signers(1)[0]
    first, second = await asyncio.gather(
        pipeline.process(clicksign_event("sign", new_key(), [signer]), []),
        pipeline.process(clicksign_event("sign", new_key(), [signer]), []),
    )
    [contact] = rd.state.contacts
    assert set(contact.deal_ids) == {first.deal_id, second.deal_id}


async def test_crash_after_rd_created_the_deal_is_recovered_without_a_second_deal(
    pipeline: DealPipeline, rd: SandboxServer, store: Store
) -> None:
    key = new_key()
    event = clicksign_event("sign", key)
    # RD creates the deal but the answer never arrives: our side saw a failure.
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=True)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(event, [])
    assert len(rd.state.deals) == 1
    assert (await store.get_document(key)).deal_id is None  # type: ignore[union-attr]

    result = await pipeline.process(event, [])

    assert len(rd.state.deals) == 1
    assert result.deal_id == rd.state.deals[0].id
    assert (await store.get_document(key)).deal_id == result.deal_id  # type: ignore[union-attr]


async def test_recovery_ignores_a_same_named_deal_of_another_document(
    pipeline: DealPipeline, rd: SandboxServer, store: Store
) -> None:
    signer: SampleSigner = make_signers(1)[0]
    older = await pipeline.process(clicksign_event("sign", new_key(), [signer]), [])
    key = new_key()
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=True)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(clicksign_event("sign", key, [signer]), [])

    result = await pipeline.process(clicksign_event("sign", key, [signer]), [])

    assert result.deal_id != older.deal_id
    assert len(rd.state.deals) == 2


async def test_rd_validation_error_is_raised_with_rds_message(
    pipeline: DealPipeline, rd: SandboxServer
) -> None:
    rd.faults.reject_deal_creation("Campo obrigatório não preenchido", field="deal_custom_fields")
    with pytest.raises(RdStationRejected, match="Campo obrigatório"):
        await pipeline.process(clicksign_event("sign", new_key()), [])
    assert rd.state.deals == []


async def test_document_key_custom_field_carries_the_key_and_guides_recovery(
    store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    field_id = rd.state.ids.document_key_field_id
    settings = DealSettings(
        stage_id=rd.state.default_stage_id,
        title=TitleTemplate("Contrato"),
        document_key_field_id=field_id,
    )
    pipeline = DealPipeline(store, rd_client, settings)
    first_key, key = new_key(), new_key()
    await pipeline.process(clicksign_event("sign", first_key), [])
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=True)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(clicksign_event("sign", key), [])

    result = await pipeline.process(clicksign_event("sign", key), [])

    assert len(rd.state.deals) == 2
    deal = rd.state.deal(result.deal_id)
    assert deal is not None
    assert [v.value for v in deal.custom_values if v.custom_field_id == field_id] == [key]


async def test_two_processes_racing_on_one_document_create_one_deal(
    store_url: str, rd_client: RdStationClient, deal_settings: DealSettings, rd: SandboxServer
) -> None:
    # Two store instances stand for two crm_writer replicas: the lock must live in the store.
    stores = [open_store(store_url), open_store(store_url)]
    for each in stores:
        await each.open()
    try:
        pipelines = [DealPipeline(each, rd_client, deal_settings) for each in stores]
        key, signers = new_key(), make_signers(4)
        rd.faults.set_latency(20)
        await asyncio.gather(
            *(
                pipelines[i % 2].process(clicksign_event("sign", key, signers, i), [])
                for i in range(4)
            )
        )
    finally:
        for each in stores:
            await each.close()
    [deal] = rd.state.deals
    assert emails_of_deal(rd, deal.id) == {s.email.lower() for s in signers}


# When the deal or contact already in RD was made: long before anything signdeal does in a test.
LAST_MONTH = datetime.now(UTC) - timedelta(days=30)


@pytest.mark.parametrize("rd_created_it", [True, False], ids=["rd-created-it", "rd-did-not"])
async def test_recovery_without_a_key_field_never_adopts_an_older_deal_of_the_same_name(
    pipeline: DealPipeline,
    rd: SandboxServer,
    rd_client: RdStationClient,
    deal_settings: DealSettings,
    store: Store,
    rd_created_it: bool,
) -> None:
    # No document-key field is configured, so the deal's name and creation time are all that
    # tell the document's own deal from a same-named one someone made last month.
    assert deal_settings.document_key_field_id is None
    key, signer = new_key(), make_signers(1)[0]
    event = clicksign_event("sign", key, [signer])
    name = deal_settings.title.render(event)
    older = await rd_client.create_deal({"deal": {"name": name}})
    older_deal = rd.state.deal(older["_id"])
    assert older_deal is not None
    older_deal.created_at = LAST_MONTH
    # Our create times out: RD may or may not have made the deal; our side has only the intent.
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=rd_created_it)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(event, [])

    result = await pipeline.process(event, [])

    assert result.outcome is Outcome.CREATED
    assert result.deal_id != older["_id"]
    assert len(rd.state.deals_named(name)) == 2  # the older deal and the document's own one
    assert emails_of_deal(rd, older["_id"]) == set()
    assert (await store.get_document(key)).deal_id == result.deal_id  # type: ignore[union-attr]


async def test_the_oldest_of_two_rd_contacts_sharing_the_signers_email_is_linked(
    pipeline: DealPipeline, rd: SandboxServer, rd_client: RdStationClient
) -> None:
    signer = make_signers(1)[0]
    # RD does not keep e-mails unique. The oldest contact is listed second, so that neither
    # "the first one listed" nor "the newest" passes for it.
    await rd_client.create_contact({"name": signer.name, "emails": [{"email": signer.email}]})
    oldest = await rd_client.create_contact(  # RD refuses a repeated contact name
        {"name": f"{signer.name} (2)", "emails": [{"email": signer.email.upper()}]}
    )
    oldest_contact = rd.state.contact(oldest["_id"])
    assert oldest_contact is not None
    oldest_contact.created_at = LAST_MONTH

    with capture_logs() as logs:
        result = await pipeline.process(clicksign_event("sign", new_key(), [signer]), [])

    assert result.contact_ids == (oldest["_id"],)
    assert [contact.id for contact in rd.state.contacts_of_deal(result.deal_id)] == [oldest["_id"]]
    assert len(rd.state.contacts) == 2  # no third contact
    ambiguous = [line for line in logs if line["event"] == "contact.ambiguous"]
    assert [(line["log_level"], line["matches"]) for line in ambiguous] == [("warning", 2)]


# -- RD no longer has what the store remembers (issue 17, item 2) -------------------------------


async def test_a_deal_deleted_in_rd_is_created_again_and_the_history_says_why(
    pipeline: DealPipeline, rd: SandboxServer, store: Store
) -> None:
    key, signers = new_key(), make_signers(2)
    first = await pipeline.process(clicksign_event("sign", key, signers, 0), [])
    assert first.deal_id is not None
    rd.state.delete_deal(first.deal_id)  # a salesperson deletes it in RD's web app

    with capture_logs() as logs:
        second = await pipeline.process(clicksign_event("sign", key, signers, 1), [])

    assert second.outcome is Outcome.CREATED
    assert second.deal_id not in (None, first.deal_id)
    assert [deal.id for deal in rd.state.deals] == [second.deal_id]
    assert emails_of_deal(rd, second.deal_id) == {signers[1].email.lower()}  # type: ignore[arg-type]
    assert (await store.get_document(key)).deal_id == second.deal_id  # type: ignore[union-attr]
    assert second.note is not None
    assert f"no longer had the document's deal {first.deal_id}" in second.note
    assert [line["recreated"] for line in logs if line["event"] == "deal.vanished"] == [True]


async def test_a_deal_deleted_in_rd_is_noticed_by_its_update_too(
    rd: SandboxServer, store: Store, rd_client: RdStationClient, deal_settings: DealSettings
) -> None:
    signed = rd.state.stage_id("Contrato assinado")
    mapping = MappingFile(deal=DealMapping(stages={"auto_close": signed}))
    pipeline = DealPipeline(store, rd_client, replace(deal_settings, mapping=mapping))
    key, signers = new_key(), make_signers(1)
    first = await pipeline.process(clicksign_event("sign", key, signers), [])
    assert first.deal_id is not None
    rd.state.delete_deal(first.deal_id)
    calls: list[RdCall] = []

    closed = await pipeline.process(clicksign_event("auto_close", key, signers), calls)

    assert closed.outcome is Outcome.CREATED
    [deal] = rd.state.deals
    assert (deal.id, deal.stage_id) == (closed.deal_id, signed)
    assert ("GET", f"/deals/{first.deal_id}", 404) in [
        (call.method, call.path, call.status) for call in calls
    ]


async def test_an_rd_that_reuses_a_deal_id_does_not_crash_the_handler(
    pipeline: DealPipeline, rd: SandboxServer, store: Store
) -> None:
    # `make run` restarted: the sandbox starts empty and hands out the same ids again while the
    # store still maps an old document to the first of them.
    old_key, new_key_ = new_key(), new_key()
    old = await pipeline.process(clicksign_event("sign", old_key, make_signers(1)), [])
    rd.state.reset()

    with capture_logs() as logs:
        new = await pipeline.process(clicksign_event("sign", new_key_, make_signers(1)), [])

    assert new.outcome is Outcome.CREATED
    assert new.deal_id == old.deal_id  # the same id, handed out again
    assert (await store.get_document(new_key_)).deal_id == new.deal_id  # type: ignore[union-attr]
    assert (await store.get_document(old_key)).deal_id is None  # type: ignore[union-attr]
    assert "deal.id_reused" in [line["event"] for line in logs]


async def test_a_stage_deleted_in_rd_parks_with_what_to_do(
    rd: SandboxServer, store: Store, rd_client: RdStationClient, deal_settings: DealSettings
) -> None:
    gone = "65e5b7c753f61b6a40ed0000"
    pipeline = DealPipeline(store, rd_client, replace(deal_settings, stage_id=gone))

    with pytest.raises(RdStationRejected) as refused:
        await pipeline.process(clicksign_event("sign", new_key(), make_signers(1)), [])

    assert f"the stage {gone} no longer exists" in str(refused.value)
    assert "signdeal rd stages" in str(refused.value)
