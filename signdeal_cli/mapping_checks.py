"""``signdeal check`` of the mapping file (``SIGNDEAL_CONFIG``) against the RD account.

Every stage it names exists; every custom field it fills exists, belongs to the right kind of
record, and gets values its type accepts (a date field takes ``DD/MM/YYYY``; an option field
one of its options).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from sandbox.clicksign import build_webhook, encode, make_signers
from services.crm_writer.mapping_file import MappingFile
from services.crm_writer.rdstation import RdStationClient, RdStationError, RdStationNotFound
from services.crm_writer.rdstation.resources import resource_id
from services.crm_writer.templates import TitleTemplate
from shared.events import SignedDocumentEvent, parse_clicksign_webhook
from signdeal_cli.verdicts import Verdict

RD_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
TEXT_TYPES = frozenset({"text", "textarea"})
CHOICE_TYPES = frozenset({"option", "multiple_choice"})
SAMPLE_DOCUMENT_KEY = "00000000-0000-4000-8000-000000000000"


def sample_event() -> SignedDocumentEvent:
    """A realistic ``sign`` event, to show what templates make of one."""
    body = build_webhook("sign", document_key=SAMPLE_DOCUMENT_KEY, signers=make_signers(1))
    return parse_clicksign_webhook(encode(body))


@dataclass(frozen=True)
class FieldUse:
    """One custom field the mapping fills: where in the file, which record, with what."""

    where: str
    owner: str
    field_id: str
    template: str


def field_uses(mapping: MappingFile) -> list[FieldUse]:
    uses = [
        FieldUse(f"deal.custom_fields.{key}", "deal", key, value)
        for key, value in mapping.deal.custom_fields.items()
    ]
    for index, rule in enumerate(mapping.rules):
        uses += [
            FieldUse(f"rules[{index}].deal.custom_fields.{key}", "deal", key, value)
            for key, value in rule.deal.custom_fields.items()
        ]
    uses += [
        FieldUse(f"contact.custom_fields.{key}", "contact", key, value)
        for key, value in mapping.contact.custom_fields.items()
    ]
    return uses


def deal_fields_always_filled(mapping: MappingFile) -> set[str]:
    """Deal fields every deal gets: from ``[deal]``, or from every rule when rules exist (a
    document that matches no rule makes no deal)."""
    filled = set(mapping.deal.custom_fields)
    if mapping.rules:
        filled |= set.intersection(*(set(rule.deal.custom_fields) for rule in mapping.rules))
    return filled


def mapping_owner_ids(mapping: MappingFile) -> dict[str, str]:
    owners = {"deal.owner_id": mapping.deal.owner_id} if mapping.deal.owner_id else {}
    for index, rule in enumerate(mapping.rules):
        if rule.deal.owner_id:
            owners[f"rules[{index}].deal.owner_id"] = rule.deal.owner_id
    return owners


async def check_mapping_stages(rd: RdStationClient, mapping: MappingFile, source: str) -> Verdict:
    name = "mapping stages"
    named = mapping.stage_ids()
    if not named:
        return Verdict.skip(name, f"{source} names no stage")
    problems, found = [], {}
    for where, stage_id in named.items():
        try:
            found[stage_id] = (await rd.get_stage(stage_id)).get("name")
        except RdStationNotFound:
            problems.append(
                f"{source}: {where}: {stage_id} is not a stage of this account "
                "(`signdeal rd stages` lists them)"
            )
        except RdStationError as exc:
            problems.append(f"{source}: {where}: could not read stage {stage_id}: {exc}")
    if problems:
        return Verdict.fail(name, "; ".join(problems))
    names = ", ".join(f'"{stage}"' for stage in dict.fromkeys(found.values()))
    return Verdict.ok(name, f"the {len(named)} stage id(s) in {source} exist: {names}")


def check_mapping_fields(
    mapping: MappingFile, fields: list[dict[str, Any]], sample: SignedDocumentEvent, source: str
) -> Verdict:
    name = "mapping custom fields"
    uses = field_uses(mapping)
    if not uses:
        return Verdict.skip(name, f"{source} fills no custom field")
    by_id = {str(resource_id(field)): field for field in fields}
    failures, warnings = [], []
    for use in uses:
        failure, warning = _judge(use, by_id.get(use.field_id), sample)
        if failure:
            failures.append(f"{source}: {use.where}: {failure}")
        if warning:
            warnings.append(f"{use.where}: {warning}")
    if failures:
        return Verdict.fail(name, "; ".join(failures + warnings))
    if warnings:
        return Verdict.warn(name, "; ".join(warnings))
    return Verdict.ok(name, f"the {len(uses)} custom field(s) filled by {source} fit their types")


def _judge(
    use: FieldUse, field: dict[str, Any] | None, sample: SignedDocumentEvent
) -> tuple[str | None, str | None]:
    """(why it cannot work, what might not work) for one field the mapping fills."""
    if field is None:
        return "not a custom field of this account", None
    label, owner, type_ = f'"{field.get("label")}"', field.get("for"), field.get("type")
    if owner != use.owner:
        return f"{label} is a {owner} field, not a {use.owner} field", None
    value = TitleTemplate(use.template).render_value(sample)
    if type_ == "date" and not RD_DATE.match(value):
        return (
            f"{label} is a date field and takes DD/MM/YYYY, but the template gives {value!r} "
            "(use {event.date})",
            None,
        )
    if type_ in CHOICE_TYPES:
        options = [str(option) for option in field.get("opts") or []]
        if _is_fixed(use.template) and value not in options:
            return f"{label} takes one of {options}, not {value!r}", None
        if not _is_fixed(use.template):
            return None, f"{label} takes one of {options}; other values are refused by RD"
    if type_ not in TEXT_TYPES | CHOICE_TYPES | {"date"}:
        return None, f"{label} has type {type_!r}, not known to signdeal"
    return None, None


def _is_fixed(template: str) -> bool:
    return all(name is None for _, name, _, _ in string.Formatter().parse(template))
