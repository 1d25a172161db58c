"""The mapping file applied by the pipeline against the RD sandbox: stages, won, rules, cancel."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.clicksign import make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.mapping_file import load_mapping_file
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdStationClient, RdStationUnavailable
from services.crm_writer.store import Outcome, Store
from services.crm_writer.templates import TitleTemplate
from tests.clicksign_events import clicksign_event

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def pipeline_with(
    mapping_text: str, tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> DealPipeline:
    path = tmp_path / "signdeal.toml"
    path.write_text(mapping_text, encoding="utf-8")
    settings = DealSettings(
        stage_id=rd.state.default_stage_id,
        title=TitleTemplate("{document.filename}"),
        mapping=load_mapping_file(path),
    )
    return DealPipeline(store, rd_client, settings)


async def test_stage_per_event_and_won_when_finished(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    signing, signed = rd.state.stage_id("Em assinatura"), rd.state.stage_id("Contrato assinado")
    text = f"""
[deal]
won_on_finish = true
[deal.stages]
sign = "{signing}"
auto_close = "{signed}"
[deal.custom_fields]
"{rd.state.ids.document_key_field_id}" = "{{document.key}}"
"{rd.state.ids.signed_on_field_id}" = "{{event.date}}"
"""
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    key, signers = str(uuid.uuid4()), make_signers(2)

    await pipeline.process(clicksign_event("sign", key, signers, 0), [])
    [deal] = rd.state.deals
    assert deal.stage_id == signing
    assert deal.win is None
    await pipeline.process(clicksign_event("sign", key, signers, 1), [])
    result = await pipeline.process(clicksign_event("auto_close", key, signers), [])

    assert result.outcome is Outcome.UPDATED
    [deal] = rd.state.deals
    assert deal.stage_id == signed
    assert deal.win is True
    values = {value.custom_field_id: value.value for value in deal.custom_values}
    assert values[rd.state.ids.document_key_field_id] == key
    assert len(values[rd.state.ids.signed_on_field_id]) == len("DD/MM/YYYY")


async def test_rules_send_two_documents_to_two_pipelines_and_ignore_the_rest(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    partners = rd.state.stage_id("Prospecção", rd.state.ids.partnerships_pipeline_id)
    text = f"""
[[rules]]
name = "Parcerias"
folder = "/Parcerias/"
[rules.deal]
stage_id = "{partners}"
[[rules]]
name = "Contratos"
folder = "/Contratos/"
"""
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    partner = clicksign_event(
        "sign", str(uuid.uuid4()), path="/Parcerias/acordo.pdf", filename="acordo.pdf"
    )
    contract = clicksign_event(
        "sign", str(uuid.uuid4()), path="/Contratos/venda.pdf", filename="venda.pdf"
    )
    other = clicksign_event("sign", str(uuid.uuid4()), path="/RH/ferias.pdf", filename="ferias.pdf")

    await pipeline.process(partner, [])
    await pipeline.process(contract, [])
    ignored = await pipeline.process(other, [])

    stages = {deal.name: deal.stage_id for deal in rd.state.deals}
    assert stages == {"acordo.pdf": partners, "venda.pdf": rd.state.default_stage_id}
    assert ignored.outcome is Outcome.IGNORED
    assert ignored.deal_id is None


async def test_contact_fields_come_from_the_signer(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    text = f"""
[contact]
title = "Signatário"
[contact.custom_fields]
"{rd.state.ids.cpf_field_id}" = "{{signer.documentation}}"
"""
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    signer = make_signers(1)[0]
    await pipeline.process(clicksign_event("sign", str(uuid.uuid4()), [signer]), [])
    [contact] = rd.state.contacts
    assert contact.title == "Signatário"
    assert [value.value for value in contact.custom_values] == [signer.documentation]


async def test_refusal_marks_an_existing_deal_lost_and_creates_none_otherwise(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    pipeline = pipeline_with('[deal.on_cancel]\naction = "lose"', tmp_path, store, rd_client, rd)
    key = str(uuid.uuid4())
    await pipeline.process(clicksign_event("sign", key), [])
    lost = await pipeline.process(clicksign_event("refusal", key), [])
    nothing = await pipeline.process(clicksign_event("cancel", str(uuid.uuid4())), [])

    [deal] = rd.state.deals
    assert lost.outcome is Outcome.UPDATED
    assert deal.win is False
    assert nothing.outcome is Outcome.IGNORED


async def test_a_late_event_does_not_write_its_fields_over_a_newer_ones(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    text = f"""
[deal.custom_fields]
"{rd.state.ids.signed_on_field_id}" = "{{event.date}}"
"""
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    key, signers = str(uuid.uuid4()), make_signers(2)
    first_day = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    second_day = first_day + timedelta(days=1)

    def signed_on() -> str:
        [deal] = rd.state.deals
        values = {value.custom_field_id: value.value for value in deal.custom_values}
        return values[rd.state.ids.signed_on_field_id]

    # The second signature arrives first, then the first one, late.
    await pipeline.process(clicksign_event("sign", key, signers, 1, occurred_at=second_day), [])
    late = await pipeline.process(
        clicksign_event("sign", key, signers, 0, occurred_at=first_day), []
    )
    assert late.outcome is Outcome.UPDATED
    assert signed_on() == "03/11/2026"
    assert len(late.contact_ids) == 1  # the late signer is still linked

    closing = clicksign_event(
        "auto_close", key, signers, occurred_at=second_day + timedelta(days=1)
    )
    await pipeline.process(closing, [])
    assert signed_on() == "04/11/2026"


async def test_a_late_event_still_writes_the_fields_no_newer_event_wrote(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    ids = rd.state.ids
    text = f"""
[deal.custom_fields]
"{ids.signed_on_field_id}" = "{{event.date}}"
"{ids.document_key_field_id}" = "{{signer.documentation}}"
"""
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    key = str(uuid.uuid4())
    without_cpf, with_cpf = make_signers(2)
    signers = [replace(without_cpf, documentation=None), with_cpf]
    signed_at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)

    # The close (a day later, no CPF to write) arrives first; the second signature, late.
    closing = clicksign_event("auto_close", key, signers, occurred_at=signed_at + timedelta(days=1))
    await pipeline.process(closing, [])
    [deal] = rd.state.deals
    assert ids.document_key_field_id not in {value.custom_field_id for value in deal.custom_values}
    await pipeline.process(clicksign_event("sign", key, signers, 1, occurred_at=signed_at), [])

    [deal] = rd.state.deals
    values = {value.custom_field_id: value.value for value in deal.custom_values}
    assert values[ids.signed_on_field_id] == "03/11/2026"  # the close's date stays
    assert values[ids.document_key_field_id] == with_cpf.documentation  # written by the late one


async def test_after_a_crash_in_the_create_a_late_event_keeps_the_creators_fields(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    ids = rd.state.ids
    text = f'[deal.custom_fields]\n"{ids.signed_on_field_id}" = "{{event.date}}"\n'
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    key, signers = str(uuid.uuid4()), make_signers(2)
    signed_at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    closing = clicksign_event("auto_close", key, signers, occurred_at=signed_at + timedelta(days=1))
    # RD creates the deal for the close, but the answer never arrives: the deal id is not stored.
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=True)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(closing, [])

    # The older signature comes first after the crash: it finds the deal and updates it.
    late = await pipeline.process(
        clicksign_event("sign", key, signers, 0, occurred_at=signed_at), []
    )

    [deal] = rd.state.deals
    assert late.deal_id == deal.id
    values = {value.custom_field_id: value.value for value in deal.custom_values}
    assert values[ids.signed_on_field_id] == "03/11/2026"


async def test_values_rd_would_refuse_are_left_out_and_noted(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    # RD v1: "Toda informação cadastrada deve conter no mínimo 2 caracteres". A signer without
    # CPF renders the CPF field empty, a one-letter metadata value renders one character.
    text = f"""
[deal.custom_fields]
"{rd.state.ids.contract_type_field_id}" = "{{document.metadata.tipo}}"
[contact]
title = "{{document.metadata.cargo}}"
[contact.custom_fields]
"{rd.state.ids.cpf_field_id}" = "{{signer.documentation}}"
"""
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    signer = replace(make_signers(1)[0], documentation=None)
    event = clicksign_event(
        "sign", str(uuid.uuid4()), [signer], metadata={"tipo": "A", "cargo": " "}
    )

    result = await pipeline.process(event, [])

    assert result.outcome is Outcome.CREATED
    [deal] = rd.state.deals
    assert deal.custom_values == []
    [contact] = rd.state.contacts
    assert contact.title is None
    assert contact.custom_values == []
    assert result.note is not None
    assert f"deal custom field {rd.state.ids.contract_type_field_id} left out: 'A'" in result.note
    assert "contact title left out: nothing to write" in result.note
    assert f"contact custom field {rd.state.ids.cpf_field_id} left out" in result.note


async def test_a_contact_name_rd_already_has_is_made_unique_with_the_email(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    # Two people called the same: RD's contact name "não pode se repetir".
    first, second = make_signers(2)
    namesake = replace(second, name=first.name)
    pipeline = pipeline_with("", tmp_path, store, rd_client, rd)
    await pipeline.process(clicksign_event("sign", str(uuid.uuid4()), [first]), [])

    result = await pipeline.process(clicksign_event("sign", str(uuid.uuid4()), [namesake]), [])

    names = sorted(contact.name for contact in rd.state.contacts)
    assert names == sorted([first.name, f"{first.name} ({namesake.email})"])
    assert result.note is not None
    assert "created as" in result.note


async def test_a_late_event_keeps_the_fields_a_newer_update_wrote(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    # The newer event here is not the one that created the deal: it updated it, so its time must
    # be remembered by the update itself (issue 18: nothing failed when the update forgot it).
    ids = rd.state.ids
    text = f'[deal.custom_fields]\n"{ids.signed_on_field_id}" = "{{event.date}}"\n'
    pipeline = pipeline_with(text, tmp_path, store, rd_client, rd)
    key, signers = str(uuid.uuid4()), make_signers(2)
    day_1 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    day_2, day_3 = day_1 + timedelta(days=1), day_1 + timedelta(days=2)

    def signed_on() -> str:
        [deal] = rd.state.deals
        return {value.custom_field_id: value.value for value in deal.custom_values}[
            ids.signed_on_field_id
        ]

    created = await pipeline.process(
        clicksign_event("sign", key, signers, 0, occurred_at=day_1), []
    )
    updated = await pipeline.process(
        clicksign_event("auto_close", key, signers, occurred_at=day_3), []
    )
    assert (created.outcome, updated.outcome) == (Outcome.CREATED, Outcome.UPDATED)
    assert signed_on() == "04/11/2026"

    late = await pipeline.process(clicksign_event("sign", key, signers, 1, occurred_at=day_2), [])

    assert late.outcome is Outcome.UPDATED
    assert signed_on() == "04/11/2026"  # day 3's value stays


async def test_a_deleted_deal_is_left_alone_when_the_mapping_says_so(
    tmp_path: Path, store: Store, rd_client: RdStationClient, rd: SandboxServer
) -> None:
    pipeline = pipeline_with("[deal]\nrecreate_deleted = false\n", tmp_path, store, rd_client, rd)
    key, signers = str(uuid.uuid4()), make_signers(2)
    first = await pipeline.process(clicksign_event("sign", key, signers, 0), [])
    assert first.deal_id is not None
    rd.state.delete_deal(first.deal_id)

    second = await pipeline.process(clicksign_event("sign", key, signers, 1), [])

    assert second.outcome is Outcome.IGNORED
    assert rd.state.deals == []
    assert second.note is not None
    assert "deal.recreate_deleted = false" in second.note
    # Not just the first event after the deletion: every later one of the document.
    third = await pipeline.process(clicksign_event("auto_close", key, signers), [])
    assert third.outcome is Outcome.IGNORED
    assert third.note is not None and "deal.recreate_deleted = false" in third.note
    assert rd.state.deals == []
