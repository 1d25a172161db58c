"""Templates over an event (`services.crm_writer.templates`): titles, placeholders, values."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.crm_writer.templates import PLACEHOLDERS, TemplateError, TitleTemplate
from shared.events import SignedDocumentEvent, parse_clicksign_webhook

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


JOAO_IN_FULL = {**JOAO, "documentation": "123.456.789-00"}


@pytest.mark.parametrize(
    ("placeholder", "value"),
    [
        ("document.key", "doc-1"),
        ("document.filename", "contrato.pdf"),
        ("document.name", "contrato"),
        ("document.path", "/Contratos/contrato.pdf"),
        ("document.folder", "/Contratos"),
        ("document.status", "running"),
        ("document.metadata.cliente", "ACME"),
        ("document.metadata.pedido", "42"),
        ("document.metadata.vazio", ""),
        ("signer.name", "João Silva"),
        ("signer.email", "joao@example.com"),
        ("signer.phone", "11999"),
        ("signer.documentation", "123.456.789-00"),
        ("event.name", "sign"),
        ("event.occurred_at", "2026-03-28T11:53:40.123-03:00"),
        ("event.date", "28/03/2026"),
        ("account.key", "acc-1"),
    ],
)
def test_every_placeholder_renders_its_value(placeholder: str, value: str) -> None:
    full = event(
        signer=JOAO_IN_FULL,
        status="running",
        account_key="acc-1",
        metadata={"cliente": "ACME", "pedido": 42, "vazio": None},
    )

    assert TitleTemplate(f"{{{placeholder}}}").render_value(full) == value


def test_whatever_the_event_lacks_renders_as_empty_text() -> None:
    bare = parse_clicksign_webhook(orjson.dumps({"event": {"name": "x"}, "document": {"key": "k"}}))
    rendered = {name: TitleTemplate(f"{{{name}}}").render_value(bare) for name in PLACEHOLDERS}

    assert {name: value for name, value in rendered.items() if value} == {
        "document.key": "k",
        "event.name": "x",
    }


def test_the_file_name_comes_from_the_path_when_clicksign_leaves_it_out() -> None:
    without_name = event(signer=MARIA, filename=None, path="/Contratos/aditivo.pdf")

    rendered = TitleTemplate("{document.filename} {document.name}").render_value(without_name)

    assert rendered == "aditivo.pdf aditivo"


def test_a_metadata_key_the_document_lacks_renders_as_empty_text() -> None:
    title = TitleTemplate("Contrato {document.metadata.cliente}")

    assert title.render_value(event(signer=MARIA)) == "Contrato"


def test_runs_of_whitespace_become_one_space() -> None:
    title = TitleTemplate("{document.name}  \t {signer.name}\n")

    assert title.render_value(event(signer=MARIA)) == "contrato Maria Conceição"


def test_a_two_character_title_is_kept() -> None:
    title = TitleTemplate("{document.metadata.uf}")

    assert title.render(event(signer=MARIA, metadata={"uf": "SP"})) == "SP"


@pytest.mark.parametrize("template", ["{document.metadata.}", "{document.unknown_placeholder}"])
def test_a_placeholder_that_only_looks_like_metadata_is_rejected(template: str) -> None:
    with pytest.raises(TemplateError, match="unknown placeholder"):
        TitleTemplate(template)


def test_a_malformed_template_says_which_and_why() -> None:
    with pytest.raises(TemplateError, match=r"^malformed template '\{document.filename': "):
        TitleTemplate("{document.filename")


def test_an_unknown_placeholder_suggests_the_closest_then_lists_every_one() -> None:
    with pytest.raises(TemplateError) as caught:
        TitleTemplate("{signer.nome}")

    available = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    assert str(caught.value) == (
        "unknown placeholder {signer.nome} in '{signer.nome}'; did you mean {signer.name}? "
        f"available: {available}"
    )


def test_a_placeholder_like_none_suggests_nothing() -> None:
    with pytest.raises(TemplateError) as caught:
        TitleTemplate("Contrato {xyz}")

    assert str(caught.value).startswith(
        "unknown placeholder {xyz} in 'Contrato {xyz}'; available: "
    )
