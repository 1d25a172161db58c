"""What one event should do to its deal, decided before any request: `plan_deal` and the
`DealPlan` it returns (bodies, stages a late event keeps, custom fields a newer event wrote),
whom an event links, and the RD request bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from sandbox.clicksign import SampleSigner
from services.crm_writer.deal_plan import (
    DealPlan,
    DealSettings,
    Skip,
    contact_create_body,
    deal_create_body,
    deal_update_body,
    document_key_custom_field,
    plan_deal,
    signers_to_link,
)
from services.crm_writer.mapping_file import MappingFile
from services.crm_writer.templates import TitleTemplate
from shared.events import SignedDocumentEvent, Signer, parse_clicksign_webhook
from tests.clicksign_events import clicksign_event

OCCURRED_AT = "2026-03-28T11:00:00-03:00"
HAPPENED = datetime(2026, 3, 28, 14, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MARIA = {
    "key": "s-1",
    "name": "Maria Souza",
    "email": "maria@example.com",
    "documentation": "123.456.789-00",
}
SIGNED_ON, CPF = "cf-signed-on", "cf-cpf"


def event(
    name: str = "sign", *, occurred_at: str | None = OCCURRED_AT, **document: Any
) -> SignedDocumentEvent:
    happened = {"occurred_at": occurred_at} if occurred_at else {}
    body = {
        "event": {"name": name, "data": {"signer": MARIA}, **happened},
        "document": {
            "key": "doc-1",
            "filename": "contrato.pdf",
            "path": "/Contratos/contrato.pdf",
            "signers": [MARIA],
            **document,
        },
    }
    return parse_clicksign_webhook(orjson.dumps(body))


def settings(mapping: dict[str, Any] | None = None, **options: Any) -> DealSettings:
    return DealSettings(
        stage_id="env-stage",
        title=TitleTemplate("{document.filename} - {signer.name}"),
        mapping=MappingFile.model_validate(mapping) if mapping is not None else None,
        **options,
    )


def planned(the_event: SignedDocumentEvent, the_settings: DealSettings) -> DealPlan:
    plan = plan_deal(the_event, the_settings)
    assert isinstance(plan, DealPlan), plan
    return plan


WITH_FIELDS = {
    "deal": {"custom_fields": {SIGNED_ON: "{event.date}", CPF: "{signer.documentation}"}}
}


# -- what a plan creates and sends --


def test_a_sign_may_create_a_deal_with_the_environments_stage_title_and_owner() -> None:
    plan = planned(event(), settings(owner_id="env-owner"))

    assert plan.may_create is True
    assert plan.rule == "default"
    assert plan.event_at == HAPPENED
    assert plan.create_body() == {
        "deal": {
            "name": "contrato.pdf - Maria Souza",
            "deal_stage_id": "env-stage",
            "user_id": "env-owner",
        }
    }


def test_the_mapping_file_sets_the_title_stage_and_owner() -> None:
    mapping = {
        "deal": {"title": "Contrato {document.name}", "stage_id": "file-stage", "owner_id": "o-2"}
    }

    plan = planned(event(), settings(mapping, owner_id="env-owner"))

    assert plan.create_body() == {
        "deal": {"name": "Contrato contrato", "deal_stage_id": "file-stage", "user_id": "o-2"}
    }


def test_the_document_key_field_comes_first_and_empty_fields_are_left_out() -> None:
    mapping = {
        "deal": {"custom_fields": {SIGNED_ON: "{event.date}", "cf-x": "{document.metadata.x}"}}
    }

    plan = planned(event(), settings(mapping, document_key_field_id="cf-key"))

    fields = [
        {"custom_field_id": "cf-key", "value": "doc-1"},
        {"custom_field_id": SIGNED_ON, "value": "28/03/2026"},
    ]
    assert plan.custom_fields == fields
    assert plan.create_body()["deal"]["deal_custom_fields"] == fields
    assert plan.update_body() == {"deal": {"deal_custom_fields": fields}}


def test_a_new_contact_is_linked_to_the_deal_and_described_by_the_mapping() -> None:
    mapping = {
        "contact": {
            "title": "Signatário",
            "custom_fields": {CPF: "{signer.documentation}", "cf-phone": "{signer.phone}"},
        }
    }
    the_event = event()
    notes: list[str] = []

    body = planned(the_event, settings(mapping)).contact_body(
        the_event, Signer.model_validate(MARIA), ["deal-1"], notes
    )

    assert body == {
        "name": "Maria Souza",
        "emails": [{"email": "maria@example.com"}],
        "deal_ids": ["deal-1"],
        "title": "Signatário",
        "contact_custom_fields": [{"custom_field_id": CPF, "value": "123.456.789-00"}],
    }
    assert notes == ["contact custom field cf-phone left out: nothing to write"]


def test_values_rd_would_refuse_are_left_out_and_each_is_noted() -> None:
    mapping = {
        "deal": {"custom_fields": {"cf-type": "A"}},
        "contact": {"title": "X"},
    }
    the_event = event()
    notes: list[str] = []

    plan = planned(the_event, settings(mapping))
    body = plan.contact_body(the_event, Signer.model_validate(MARIA), ["deal-1"], notes)

    assert plan.left_out == (
        "deal custom field cf-type left out: 'A' is shorter than RD's 2 characters",
    )
    assert notes == ["contact title left out: 'X' is shorter than RD's 2 characters"]
    assert "title" not in body


def test_a_deal_rd_no_longer_has_is_made_again_unless_the_mapping_says_not_to() -> None:
    assert planned(event(), settings()).recreate_deleted is True
    assert planned(event(), settings({"deal": {"recreate_deleted": True}})).recreate_deleted
    assert (
        planned(event(), settings({"deal": {"recreate_deleted": False}})).recreate_deleted is False
    )


@pytest.mark.parametrize(
    ("files_choice", "rules_choice", "made_again"),
    [
        (False, None, False),
        (True, None, True),
        (False, True, True),
        (True, False, False),
        (None, None, True),
    ],
)
def test_a_rule_says_whether_a_deleted_deal_is_made_again_else_the_files_deal_does(
    files_choice: bool | None, rules_choice: bool | None, made_again: bool
) -> None:
    def choice(value: bool | None) -> dict[str, bool]:
        return {} if value is None else {"recreate_deleted": value}

    mapping = {
        "deal": choice(files_choice),
        "rules": [{"name": "Contratos", "folder": "/Contratos/", "deal": choice(rules_choice)}],
    }

    assert planned(event(), settings(mapping)).recreate_deleted is made_again


def test_a_document_matching_no_rule_is_skipped_and_the_history_says_why() -> None:
    mapping = {"rules": [{"name": "RH", "folder": "/RH/"}]}

    assert plan_deal(event(), settings(mapping)) == Skip(
        "the document matches no rule of the mapping file"
    )


# -- cancel, refusal, deadline --


def test_a_cancellation_is_skipped_by_default_and_the_history_says_why() -> None:
    assert plan_deal(event("cancel"), settings()) == Skip(
        "cancel is ignored (deal.on_cancel.action = ignore)"
    )


def test_a_refusal_loses_the_deal_with_its_reason_under_the_rule_that_took_it() -> None:
    mapping = {
        "rules": [
            {
                "name": "Contratos",
                "folder": "/Contratos/",
                "deal": {"on_cancel": {"action": "lose", "lost_reason_id": "lr-1"}},
            }
        ]
    }

    plan = planned(event("refusal"), settings(mapping))

    assert plan.rule == "Contratos"
    assert plan.may_create is False
    assert plan.update_body() == {"deal": {"win": False, "deal_lost_reason_id": "lr-1"}}


def test_moving_a_cancelled_deal_sends_no_lost_reason() -> None:
    on_cancel = {"action": "move", "stage_id": "st-cancelled", "lost_reason_id": "lr-1"}

    plan = planned(event("cancel"), settings({"deal": {"on_cancel": on_cancel}}))

    assert plan.update_body() == {"deal_stage_id": "st-cancelled"}


# -- stages a late event keeps --


def test_a_stage_shared_by_several_events_ranks_as_the_latest_of_them() -> None:
    # document_closed is named first: the rank must not depend on the order of the table.
    stages = {"document_closed": "st-done", "sign": "st-done", "auto_close": "st-closing"}

    late_close = planned(event("auto_close"), settings({"deal": {"stages": stages}}))

    assert late_close.keeps_current_stage("st-done")
    assert not late_close.keeps_current_stage("st-closing")


def test_an_event_outside_the_documents_life_never_keeps_the_current_stage() -> None:
    stages = {"upload": "st-uploaded", "sign": "st-signing"}

    upload = planned(event("upload"), settings({"deal": {"stages": stages}}))
    sign = planned(event("sign"), settings({"deal": {"stages": stages}}))

    assert upload.move_to_stage_id == "st-uploaded"
    assert not upload.keeps_current_stage("st-signing")
    assert not sign.keeps_current_stage("st-uploaded")


def test_a_deal_whose_stage_is_unknown_is_moved() -> None:
    stages = {"sign": "st-signing", "document_closed": "st-done"}

    plan = planned(event("sign"), settings({"deal": {"stages": stages}}))

    assert not plan.keeps_current_stage(None)


# -- custom fields a newer event wrote --


def test_fields_a_newer_event_wrote_are_left_out_of_an_older_ones_update() -> None:
    plan = planned(event(), settings(WITH_FIELDS))
    written = {SIGNED_ON: HAPPENED + DAY, CPF: HAPPENED - DAY}

    newer = plan.fields_written_later(written)

    assert newer == [SIGNED_ON]
    assert plan.without_fields(newer).update_body() == {
        "deal": {"deal_custom_fields": [{"custom_field_id": CPF, "value": "123.456.789-00"}]}
    }


def test_a_field_written_at_the_same_moment_is_written_again() -> None:
    plan = planned(event(), settings(WITH_FIELDS))

    assert plan.fields_written_later({SIGNED_ON: HAPPENED, CPF: HAPPENED}) == []


def test_an_event_that_does_not_say_when_it_happened_is_never_held_back() -> None:
    plan = planned(event(occurred_at=None), settings(WITH_FIELDS))

    assert plan.fields_written_later({SIGNED_ON: HAPPENED}) == []
    assert plan.field_times_after({}) is None


def test_the_times_of_the_fields_only_move_forward() -> None:
    plan = planned(event(), settings(WITH_FIELDS))
    before = {SIGNED_ON: HAPPENED - DAY, CPF: HAPPENED + DAY, "cf-other": HAPPENED - 5 * DAY}

    assert plan.field_times_after(before) == {
        SIGNED_ON: HAPPENED,
        CPF: HAPPENED + DAY,
        "cf-other": HAPPENED - 5 * DAY,
    }
    assert before[SIGNED_ON] == HAPPENED - DAY  # the caller's copy is left alone
    assert plan.field_times_after({}) == {SIGNED_ON: HAPPENED, CPF: HAPPENED}


@pytest.mark.parametrize(
    "written", [{SIGNED_ON: HAPPENED, CPF: HAPPENED}, {SIGNED_ON: HAPPENED + DAY, CPF: HAPPENED}]
)
def test_nothing_is_stored_when_the_times_do_not_change(written: dict[str, datetime]) -> None:
    assert planned(event(), settings(WITH_FIELDS)).field_times_after(written) is None


def test_a_plan_without_custom_fields_has_no_times_to_store() -> None:
    assert planned(event(), settings()).field_times_after({SIGNED_ON: HAPPENED - DAY}) is None


# -- whom an event links, and the RD request bodies ------------------------------------------

JOAO = {"key": "s-2", "name": "João Silva", "email": "joao@example.com", "phone_number": "11999"}


def sample_signer(name: str, email: str, phone: str | None = None) -> SampleSigner:
    """A signer with only a name, an e-mail ("" for none) and maybe a phone."""
    key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name} <{email}>"))
    return SampleSigner(name, email, None, phone, None, key)


MARIA_SIGNS = sample_signer("Maria Conceição", "Maria@Example.com")
JOAO_SIGNS = sample_signer("João Silva", "joao@example.com", "11999")


def test_sign_links_only_the_signer() -> None:
    signed = clicksign_event("sign", "doc-1", [MARIA_SIGNS, JOAO_SIGNS], signer_index=1)
    assert [s.email for s in signers_to_link(signed)] == ["joao@example.com"]


def test_finalisation_links_every_signer_once() -> None:
    duplicated = [
        MARIA_SIGNS,
        JOAO_SIGNS,
        sample_signer("Maria Conceição", "maria@example.com"),
        sample_signer("No Mail", ""),
    ]
    closed = clicksign_event("document_closed", "doc-1", duplicated)
    emails = [s.email for s in signers_to_link(closed)]
    assert emails == ["Maria@Example.com", "joao@example.com"]


def test_other_events_link_nobody() -> None:
    cancelled = clicksign_event("cancel", "doc-1", [MARIA_SIGNS, JOAO_SIGNS])
    assert signers_to_link(cancelled) == []


def test_signers_whose_emails_differ_only_by_sharp_s_are_two_people() -> None:
    # "ß" upper-cases to "SS": only lower-casing tells these two addresses apart.
    signers = [
        sample_signer("Jürgen Straße", "straße@example.de"),
        sample_signer("João Silva", "strasse@example.de", "11999"),
    ]

    linked = signers_to_link(clicksign_event("document_closed", "doc-1", signers))

    assert [signer.email for signer in linked] == ["straße@example.de", "strasse@example.de"]


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


@pytest.mark.parametrize(
    ("name", "email", "contact"),
    [
        (None, "ana.souza@example.com", "ana.souza"),
        ("Jo", "jo@example.com", "Jo"),
        ("", "ab@example.com", "ab"),
        (" ", "a@example.com", "Signatário Clicksign"),
    ],
)
def test_a_contact_is_named_after_the_signer_else_the_email_else_generically(
    name: str | None, email: str, contact: str
) -> None:
    assert contact_create_body(Signer(name=name, email=email), [])["name"] == contact
