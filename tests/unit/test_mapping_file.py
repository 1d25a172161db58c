"""The mapping file: validation with precise messages, rules, and the plan for each event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.crm_writer.deal_plan import DealPlan, DealSettings, Skip, plan_deal
from services.crm_writer.mapping_file import MappingFile, MappingFileError, load_mapping_file
from services.crm_writer.templates import TitleTemplate
from shared.events import SignedDocumentEvent, Signer, parse_clicksign_webhook

EXAMPLE = Path(__file__).parents[2] / "docs" / "signdeal.example.toml"
MARIA = {
    "key": "s-1",
    "name": "Maria",
    "email": "maria@example.com",
    "documentation": "123.456.789-00",
}


def event(
    name: str = "sign", *, path: str = "/Contratos/c.pdf", **document: Any
) -> SignedDocumentEvent:
    body = {
        "event": {
            "name": name,
            "data": {"signer": MARIA},
            "occurred_at": "2026-03-28T11:00:00-03:00",
        },
        "document": {
            "key": "doc-1",
            "filename": path.rsplit("/", 1)[-1],
            "path": path,
            "signers": [MARIA],
            **document,
        },
    }
    return parse_clicksign_webhook(orjson.dumps(body))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signdeal.toml"
    path.write_text(text, encoding="utf-8")
    return path


def settings(mapping: MappingFile | None = None) -> DealSettings:
    return DealSettings(
        stage_id="env-stage", title=TitleTemplate("{document.filename}"), mapping=mapping
    )


def plan(mapping_text: str, tmp_path: Path, the_event: SignedDocumentEvent) -> DealPlan | Skip:
    return plan_deal(the_event, settings(load_mapping_file(write(tmp_path, mapping_text))))


def test_the_example_file_is_valid() -> None:
    mapping = load_mapping_file(EXAMPLE)
    assert [rule.name for rule in mapping.rules] == ["Parcerias", "Contratos"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[deal]\ntitle = "{document.filenme}"',
            "`title` in [deal]: unknown placeholder {document.filenme} in '{document.filenme}'; "
            "did you mean {document.filename}?",
        ),
        (
            '[deal.custom_fields]\n"cf1" = "{nope}"',
            "`cf1` in [deal.custom_fields]: unknown placeholder {nope}",
        ),
        (
            "[deal]\nwon_on_finsh = true",
            "unknown key `won_on_finsh` in [deal]; did you mean `won_on_finish`?",
        ),
        ('[deal]\nstage = "x"', "unknown key `stage` in [deal]; did you mean `stages`?"),
        (
            "[contact]\nphone = '{signer.phone}'",
            "unknown key `phone` in [contact]; known keys: title, custom_fields",
        ),
        ("[dael]\ntitle = 'x'", "unknown key `dael` in the top level; did you mean `deal`?"),
        ('[deal.on_cancel]\naction = "move"', '[deal.on_cancel]: action "move" needs stage_id'),
        (
            '[deal.on_cancel]\naction = "delete"',
            "`action` in [deal.on_cancel] must be one of 'ignore', 'move' or 'lose', not 'delete'",
        ),
        ("[deal]\nwon_on_finish = 'maybe'", "`won_on_finish` in [deal] must be true or false"),
        ("[deal]\ntitle = 3", "`title` in [deal] must be text in quotes, not 3"),
        ("[[rules]]\nfolder = '/x/'", "[[rules]] number 1 needs `name`"),
        (
            "[[rules]]\nname = 'A'\n[[rules]]\nname = 'Parcerias'\n[rules.deal]\nstage_idd = 'x'",
            'unknown key `stage_idd` in [rules.deal] of [[rules]] number 2 ("Parcerias"); '
            "did you mean `stage_id`?",
        ),
        ("rules = 3", "`rules` in the top level must be a list of tables ([[rules]])"),
        ("[deal\n", "not valid TOML"),
    ],
)
def test_bad_mapping_files_get_a_precise_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MappingFileError) as caught:
        load_mapping_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rules]]\nfolder = '/x/'", "[[rules]] number 1 needs `name`"),
        ("deal = 3", "`deal` in the top level must be a table ([deal])"),
        ("[deal]\nstages = 'st-signing'", "`stages` in [deal] must be a table ([deal.stages])"),
        (
            "[[rules]]\nname = 'A'\n[rules.deal]\ncustom_fields = 'cf-1'",
            '`custom_fields` in [rules.deal] of [[rules]] number 1 ("A") must be a table '
            "([rules.deal.custom_fields])",
        ),
        (
            "[deal]\nwon_on_finish = [true]",
            "`won_on_finish` in [deal] must be true or false (no quotes), not [True]",
        ),
        (
            "[[rules]]\nname = 'Parcerias'\n[rules.deal.on_cancel]\naction = 'move'",
            '[rules.deal.on_cancel] of [[rules]] number 1 ("Parcerias"): '
            'action "move" needs stage_id',
        ),
    ],
)
def test_a_mapping_file_error_is_exactly_one_sentence_about_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(MappingFileError) as caught:
        load_mapping_file(path)

    assert str(caught.value) == f"{path}: {message}"


def test_a_rule_that_is_not_a_table_is_named_by_its_number(tmp_path: Path) -> None:
    path = write(tmp_path, "rules = [{ name = 'Vendas' }, 'Contratos']")

    with pytest.raises(MappingFileError) as caught:
        load_mapping_file(path)

    assert str(caught.value).startswith(f"{path}: [[rules]] number 2: ")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MappingFileError, match="cannot read"):
        load_mapping_file(tmp_path / "absent.toml")


def test_without_a_file_the_environment_decides() -> None:
    decided = plan_deal(event(), settings())
    assert isinstance(decided, DealPlan)
    assert decided.create_stage_id == "env-stage"
    assert decided.move_to_stage_id is None
    assert decided.update_body() is None


def test_stage_per_event_creates_and_moves(tmp_path: Path) -> None:
    text = '[deal.stages]\nsign = "st-signing"\nauto_close = "st-signed"'
    first = plan(text, tmp_path, event("sign"))
    finished = plan(text, tmp_path, event("auto_close"))
    assert isinstance(first, DealPlan) and isinstance(finished, DealPlan)
    assert first.create_stage_id == "st-signing"
    assert finished.create_stage_id == "st-signed"
    assert finished.update_body() == {"deal_stage_id": "st-signed"}


def test_won_on_finish_only_for_finalisation_events(tmp_path: Path) -> None:
    text = "[deal]\nwon_on_finish = true"
    signed = plan(text, tmp_path, event("sign"))
    closed = plan(text, tmp_path, event("document_closed"))
    assert isinstance(signed, DealPlan) and isinstance(closed, DealPlan)
    assert signed.win is None
    assert closed.update_body() == {"deal": {"win": True}}
    assert closed.create_body()["deal"]["win"] is True


def test_custom_fields_render_templates_and_rd_dates(tmp_path: Path) -> None:
    text = '[deal.custom_fields]\n"cf-key" = "{document.key}"\n"cf-date" = "{event.date}"'
    decided = plan(text, tmp_path, event())
    assert isinstance(decided, DealPlan)
    assert decided.create_body()["deal"]["deal_custom_fields"] == [
        {"custom_field_id": "cf-key", "value": "doc-1"},
        {"custom_field_id": "cf-date", "value": "28/03/2026"},
    ]


def test_contact_fields_render_with_each_signer(tmp_path: Path) -> None:
    text = (
        '[contact]\ntitle = "Signatário"\n'
        '[contact.custom_fields]\n"cf-cpf" = "{signer.documentation}"'
    )
    decided = plan(text, tmp_path, event("auto_close"))
    assert isinstance(decided, DealPlan)
    joao = Signer(name="João", email="joao@example.com", documentation="987.654.321-00")
    body = decided.contact_body(event("auto_close"), joao, ["d1"], [])
    assert body["title"] == "Signatário"
    assert body["contact_custom_fields"] == [
        {"custom_field_id": "cf-cpf", "value": "987.654.321-00"}
    ]


def test_rules_route_documents_first_match_wins(tmp_path: Path) -> None:
    text = """
[deal]
stage_id = "st-default"
[[rules]]
name = "Parcerias"
folder = "/Parcerias/"
[rules.deal]
stage_id = "st-partners"
[[rules]]
name = "Contratos"
folder = "/Contratos/"
filename = "*.pdf"
"""
    partner = plan(text, tmp_path, event(path="/Parcerias/acordo.pdf"))
    contract = plan(text, tmp_path, event(path="/Contratos/venda.pdf"))
    other = plan(text, tmp_path, event(path="/RH/ferias.pdf"))
    assert isinstance(partner, DealPlan) and isinstance(contract, DealPlan)
    assert (partner.rule, partner.create_stage_id) == ("Parcerias", "st-partners")
    assert (contract.rule, contract.create_stage_id) == ("Contratos", "st-default")
    assert isinstance(other, Skip)


def test_rules_can_match_metadata(tmp_path: Path) -> None:
    text = '[[rules]]\nname = "Vendas"\nmetadata = { tipo = "venda" }'
    assert isinstance(plan(text, tmp_path, event(metadata={"tipo": "venda"})), DealPlan)
    assert isinstance(plan(text, tmp_path, event(metadata={"tipo": "rh"})), Skip)


def test_cancellation_is_ignored_by_default() -> None:
    assert isinstance(plan_deal(event("cancel"), settings()), Skip)


def test_cancellation_can_lose_the_deal_but_never_creates_one(tmp_path: Path) -> None:
    decided = plan(
        '[deal.on_cancel]\naction = "lose"\nlost_reason_id = "lr1"', tmp_path, event("refusal")
    )
    assert isinstance(decided, DealPlan)
    assert decided.may_create is False
    assert decided.update_body() == {"deal": {"win": False, "deal_lost_reason_id": "lr1"}}


def test_cancellation_can_move_the_deal(tmp_path: Path) -> None:
    decided = plan(
        '[deal.on_cancel]\naction = "move"\nstage_id = "st-lost"', tmp_path, event("cancel")
    )
    assert isinstance(decided, DealPlan)
    assert decided.update_body() == {"deal_stage_id": "st-lost"}


def test_a_deadline_that_closed_the_document_counts_as_finished(tmp_path: Path) -> None:
    text = "[deal]\nwon_on_finish = true"
    closed = plan(text, tmp_path, event("deadline", status="closed"))
    cancelled = plan(text, tmp_path, event("deadline", status="canceled"))
    assert isinstance(closed, DealPlan)
    assert closed.win is True
    assert isinstance(cancelled, Skip)


def test_stage_ids_are_listed_for_the_start_up_check() -> None:
    found = load_mapping_file(EXAMPLE).stage_ids()
    assert found["deal.stages.auto_close"] == "65e5b7c853f61b6a40ed53a2"
    assert found["rules[0].deal.stage_id"] == "65e5b7ca53f61b6a40ed53a4"


def test_a_late_event_keeps_a_deal_in_a_later_stage(tmp_path: Path) -> None:
    text = (
        '[deal.stages]\nsign = "st-signing"\n'
        'auto_close = "st-signed"\ndocument_closed = "st-signed"'
    )
    late_sign = plan(text, tmp_path, event("sign"))
    assert isinstance(late_sign, DealPlan)
    assert late_sign.keeps_current_stage("st-signed")
    assert not late_sign.keeps_current_stage("st-signing")
    assert not late_sign.keeps_current_stage("a stage a salesperson chose")
    assert late_sign.without_stage_move().update_body() is None


FILE_DEAL = {
    "title": "Contrato {document.name}",
    "stage_id": "file-stage",
    "owner_id": "file-owner",
    "custom_fields": {"cf-a": "{event.date}", "cf-c": "{document.key}"},
    "stages": {"sign": "st-signing"},
    "won_on_finish": True,
    "on_cancel": {"action": "lose"},
}


def test_a_rule_takes_from_the_files_deal_whatever_it_leaves_unset() -> None:
    mapping = MappingFile.model_validate(
        {"deal": FILE_DEAL, "rules": [{"name": "Contratos", "folder": "/Contratos/"}]}
    )

    assert mapping.deal_for(event()) == ("Contratos", mapping.deal)


def test_what_a_rule_sets_wins_over_the_files_deal() -> None:
    rule_deal = {
        "title": "Aditivo {document.name}",
        "stage_id": "rule-stage",
        "owner_id": "rule-owner",
        "custom_fields": {"cf-a": "{signer.name}", "cf-b": "{document.path}"},
        "stages": {"auto_close": "st-signed"},
        "won_on_finish": False,
        "on_cancel": {"action": "move", "stage_id": "st-cancelled"},
    }
    mapping = MappingFile.model_validate(
        {"deal": FILE_DEAL, "rules": [{"name": "Aditivos", "folder": "/", "deal": rule_deal}]}
    )

    found = mapping.deal_for(event())

    assert found is not None
    name, deal = found
    assert name == "Aditivos"
    assert (deal.title, deal.stage_id, deal.owner_id, deal.won_on_finish) == (
        "Aditivo {document.name}",
        "rule-stage",
        "rule-owner",
        False,
    )
    assert deal.custom_fields == {
        "cf-a": "{signer.name}",
        "cf-c": "{document.key}",
        "cf-b": "{document.path}",
    }
    assert deal.stages == {"sign": "st-signing", "auto_close": "st-signed"}
    assert deal.on_cancel is not None
    assert (deal.on_cancel.action, deal.on_cancel.stage_id) == ("move", "st-cancelled")


def test_a_rule_by_file_name_takes_only_the_files_it_names() -> None:
    mapping = MappingFile.model_validate(
        {
            "rules": [
                {"name": "Aditivos", "filename": "aditivo-*.pdf"},
                {"name": "Outros", "folder": "/"},
            ]
        }
    )

    taken = [mapping.deal_for(event(path=path)) for path in ("/c/aditivo-2.pdf", "/c/venda.pdf")]

    assert [found[0] for found in taken if found] == ["Aditivos", "Outros"]


def test_the_on_cancel_stage_is_listed_for_the_start_up_check() -> None:
    on_cancel = {"action": "move", "stage_id": "st-cancelled"}
    mapping = MappingFile.model_validate({"deal": {"on_cancel": on_cancel}})

    assert mapping.stage_ids() == {"deal.on_cancel.stage_id": "st-cancelled"}
