from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.crm_writer.mapping import (
    TemplateError,
    TitleTemplate,
    contact_create_body,
    contact_deal_ids,
    deal_create_body,
    deal_update_body,
    document_key_custom_field,
    merged_deal_ids,
    rd_date,
    signers_to_link,
)
from shared.events import SignedDocumentEvent, Signer, parse_clicksign_webhook

MARIA = {"key": "s-1", "name": "Maria Conceição", "email": "Maria@Example.com", "sign_as": "party"}
JOAO = {"key": "s-2", "name": "João Silva", "email": "joao@example.com", "phone_number": "11999"}


def event(
    name: str = "sign", signer: dict[str, Any] | None = None, **document: Any
) -> SignedDocumentEvent:
    doc = {
        "key": "doc-1",
        "filename": "contrato.pdf",
        "path": "/Contratos/contrato.pdf",
        "signers": [MARIA, JOAO],
        **document,
    }
    data = {"signer": signer} if signer else None
    body = {
        "event": {"name": name, "data": data, "occurred_at": "2026-03-28T11:53:40.123-03:00"},
        "document": doc,
    }
    return parse_clicksign_webhook(orjson.dumps(body))


def test_default_title_combines_file_name_and_signer_name() -> None:
    title = TitleTemplate("{document.filename} - {signer.name}")
    assert title.render(event(signer=MARIA)) == "contrato.pdf - Maria Conceição"


def test_title_mixes_fixed_text_folder_metadata_and_date() -> None:
    title = TitleTemplate(
        "Contrato {document.name} ({document.folder}) {document.metadata.cliente} {event.date}"
    )
    rendered = title.render(event(signer=MARIA, metadata={"cliente": "ACME"}))
    assert rendered == "Contrato contrato (/Contratos) ACME 28/03/2026"


def test_title_takes_the_company_name_from_the_template_variables() -> None:
    # The Pluga guide's example title: "Nome do arquivo + Nome da Empresa".
    title = TitleTemplate("{document.name} - {document.template.empresa}")
    template = {"key": "tpl-1", "data": {"empresa": "ACME Ltda", "socios": ["a", "b"]}}

    assert title.render(event(signer=MARIA, template=template)) == "contrato - ACME Ltda"


def test_a_template_variable_the_document_lacks_renders_empty() -> None:
    title = TitleTemplate("{document.name} - {document.template.empresa}")

    assert title.render(event(signer=MARIA)) == "contrato"


def test_a_template_variable_that_is_not_text_renders_empty() -> None:
    title = TitleTemplate("{document.template.socios}")
    template = {"data": {"socios": ["a", "b"]}}

    assert title.render_value(event(signer=MARIA, template=template)) == ""


def test_finalisation_event_titles_with_first_document_signer() -> None:
    title = TitleTemplate("{document.filename} - {signer.name}")
    assert title.render(event("auto_close")) == "contrato.pdf - Maria Conceição"


def test_missing_values_leave_no_dangling_separator() -> None:
    title = TitleTemplate("{document.filename} - {signer.name}")
    assert title.render(event("auto_close", signers=[])) == "contrato.pdf"


def test_too_short_title_falls_back_to_the_document_key() -> None:
    assert (
        TitleTemplate("{signer.email}").render(event("auto_close", signers=[])) == "Documento doc-1"
    )


def test_escaped_braces_are_literal() -> None:
    assert (
        TitleTemplate("{{Clicksign}} {document.name}").render(event(signer=MARIA))
        == "{Clicksign} contrato"
    )


def test_unknown_placeholder_lists_the_available_ones() -> None:
    with pytest.raises(TemplateError) as caught:
        TitleTemplate("{document.filenme} - {signer.name}")
    message = str(caught.value)
    assert "{document.filenme}" in message
    assert "{document.filename}" in message
    assert "{signer.email}" in message


def test_malformed_template_is_rejected() -> None:
    with pytest.raises(TemplateError):
        TitleTemplate("{document.filename")


def test_sign_links_only_the_signer() -> None:
    assert [s.email for s in signers_to_link(event(signer=JOAO))] == ["joao@example.com"]


def test_finalisation_links_every_signer_once() -> None:
    duplicated = [MARIA, JOAO, {**MARIA, "email": "maria@example.com"}, {"name": "No Mail"}]
    emails = [s.email for s in signers_to_link(event("document_closed", signers=duplicated))]
    assert emails == ["Maria@Example.com", "joao@example.com"]


def test_other_events_link_nobody() -> None:
    assert signers_to_link(event("cancel")) == []


def test_deal_create_body_keeps_everything_inside_deal_and_no_inline_contacts() -> None:
    body = deal_create_body(
        name="X - Y",
        stage_id="st1",
        owner_id="u1",
        custom_fields=document_key_custom_field("cf1", "doc-1"),
    )
    assert body == {
        "deal": {
            "name": "X - Y",
            "deal_stage_id": "st1",
            "user_id": "u1",
            "deal_custom_fields": [{"custom_field_id": "cf1", "value": "doc-1"}],
        }
    }


def test_deal_update_body_puts_the_stage_at_the_top_level() -> None:
    body = deal_update_body(stage_id="st2", win=True)
    assert body == {"deal_stage_id": "st2", "deal": {"win": True}}


def test_empty_update_is_none() -> None:
    assert deal_update_body() is None


def test_contact_body_carries_email_phone_and_deal() -> None:
    body = contact_create_body(Signer.model_validate(JOAO), ["d1"])
    assert body == {
        "name": "João Silva",
        "emails": [{"email": "joao@example.com"}],
        "deal_ids": ["d1"],
        "phones": [{"phone": "11999", "type": "cellphone"}],
    }


def test_contact_without_a_usable_name_is_named_after_the_email() -> None:
    body = contact_create_body(Signer(email="ana.souza@example.com", name="A"), [])
    assert body["name"] == "ana.souza"


def test_merged_deal_ids_keeps_existing_links() -> None:
    assert merged_deal_ids(["a", "b"], "c") == ["a", "b", "c"]
    assert merged_deal_ids(["a", "c"], "c") is None
    assert merged_deal_ids(None, "c") == ["c"]


def test_contact_deal_ids_from_get_or_list_shapes() -> None:
    assert contact_deal_ids({"deal_ids": ["a"]}) == ["a"]
    assert contact_deal_ids({"deals": [{"_id": "b", "id": "b"}]}) == ["b"]
    assert contact_deal_ids({}) == []


def test_rd_date_formats_in_the_timestamps_offset() -> None:
    assert rd_date("2026-03-28T23:30:00-03:00") == "28/03/2026"
    assert rd_date(None) == ""
    assert rd_date("yesterday") == ""
