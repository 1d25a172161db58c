"""From a Clicksign event to RD Station request bodies: pure functions, no I/O.

The deal title is a template of fixed text and ``{placeholders}`` over the event, the way the
seed's Pluga setup lets a user combine fixed text with "dynamic data" (file name, signer name…).
"""

from __future__ import annotations

import difflib
import re
import string
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from shared.event_kinds import Links
from shared.events import SignedDocumentEvent, Signer

MIN_TEXT = 2  # RD v1 rejects text values shorter than two characters.

PLACEHOLDERS: dict[str, str] = {
    "document.key": "Clicksign document key (UUID)",
    "document.filename": "file name, e.g. contrato.pdf",
    "document.name": "file name without extension, e.g. contrato",
    "document.path": "folder path and file name, e.g. /Contratos/contrato.pdf",
    "document.folder": "folder of the document, e.g. /Contratos",
    "document.status": "running, closed or canceled",
    "document.metadata.<key>": "a value of the document's metadata",
    "document.template.<key>": "a variable of the Clicksign template the document was made from",
    "signer.name": "the signer's name (the first signer for events without one)",
    "signer.email": "the signer's e-mail",
    "signer.phone": "the signer's phone number",
    "signer.documentation": "the signer's CPF",
    "event.name": "the Clicksign event, e.g. sign",
    "event.occurred_at": "when it happened, ISO 8601",
    "event.date": "the day it happened, DD/MM/YYYY",
    "account.key": "Clicksign account key",
}
_METADATA = "document.metadata."
_TEMPLATE = "document.template."
_FAMILIES = (_METADATA, _TEMPLATE)
_DANGLING = " -\u2013\u2014|:/,;"  # spaces, hyphen, en and em dashes, separators


class TemplateError(ValueError):
    """A title template refers to something the event does not have."""


class TitleTemplate:
    """A validated deal-title template, e.g. ``Contrato {document.name} - {signer.name}``."""

    def __init__(self, template: str) -> None:
        self.template = template
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise TemplateError(f"malformed template {template!r}: {exc}") from None
        unknown = [
            name
            for _, name, _, _ in parts
            if name is not None and name not in PLACEHOLDERS and not _is_family_member(name)
        ]
        if unknown:
            raise TemplateError(unknown_placeholder(unknown[0], template))
        self._parts = parts

    def render(self, event: SignedDocumentEvent) -> str:
        """The title for this event, never shorter than RD's two-character minimum."""
        title = self.render_value(event).strip(_DANGLING).strip()
        if len(title) < MIN_TEXT:
            return f"Documento {event.document_key}"
        return title

    def render_value(self, event: SignedDocumentEvent) -> str:
        """The template filled in for this event (a field value: no title fallback)."""
        values = placeholder_values(event)
        rendered = "".join(
            literal + (values.get(name, "") if name is not None else "")
            for literal, name, _, _ in self._parts
        )
        return re.sub(r"\s+", " ", rendered).strip()


def unknown_placeholder(name: str, template: str) -> str:
    """What to say of ``{name}``, unknown in ``template``: the closest placeholder, then all."""
    close = difflib.get_close_matches(name, list(PLACEHOLDERS), n=1)
    hint = f"did you mean {{{close[0]}}}? " if close else ""
    available = ", ".join(f"{{{placeholder}}}" for placeholder in PLACEHOLDERS)
    return f"unknown placeholder {{{name}}} in {template!r}; {hint}available: {available}"


def _is_family_member(name: str) -> bool:
    """``document.metadata.<key>`` and ``document.template.<key>``: any key is allowed, since
    the documents decide which exist; a missing one renders as empty text."""
    return any(name.startswith(family) and len(name) > len(family) for family in _FAMILIES)


def placeholder_values(event: SignedDocumentEvent) -> dict[str, str]:
    """Every placeholder's value for this event (missing data renders as empty text)."""
    document = event.document
    signer = primary_signer(event)
    path = PurePosixPath(document.path or f"/{document.filename or ''}")
    values = {
        "document.key": document.key,
        "document.filename": document.filename or path.name,
        "document.name": PurePosixPath(document.filename or path.name).stem,
        "document.path": document.path or "",
        "document.folder": str(path.parent) if document.path else "",
        "document.status": document.status or "",
        "signer.name": (signer.name if signer else None) or "",
        "signer.email": (signer.email if signer else None) or "",
        "signer.phone": (signer.phone_number if signer else None) or "",
        "signer.documentation": (signer.documentation if signer else None) or "",
        "event.name": event.event_name,
        "event.occurred_at": event.occurred_at or "",
        "event.date": rd_date(event.occurred_at),
        "account.key": event.account_key or "",
    }
    for prefix, variables in ((_METADATA, document.metadata), (_TEMPLATE, document.template)):
        for key, value in variables.items():
            values[f"{prefix}{key}"] = _text(value)
    return values


def _text(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def rd_date(moment: str | None) -> str:
    """An ISO 8601 timestamp as RD's date-field format, DD/MM/YYYY (in the timestamp's offset)."""
    if not moment:
        return ""
    try:
        return datetime.fromisoformat(moment).strftime("%d/%m/%Y")
    except ValueError:
        return ""


def primary_signer(event: SignedDocumentEvent) -> Signer | None:
    """Who the event is about: its signer, else the document's first signer."""
    if event.signer is not None:
        return event.signer
    return event.signers[0] if event.signers else None


def signers_to_link(event: SignedDocumentEvent) -> list[Signer]:
    """The signers this event adds to the deal's contacts, without duplicates or blank e-mails.

    A ``sign`` links the person who signed. A finalisation (``auto_close``, ``close``,
    ``document_closed``) links every signer of the document, which also repairs a deal whose
    ``sign`` events were lost upstream. Other events link nobody.
    """
    links = event.kind.links
    if links is Links.THE_SIGNER:
        candidates = [event.signer] if event.signer else []
    elif links is Links.EVERY_SIGNER:
        candidates = list(event.signers)
    else:
        candidates = []
    unique: dict[str, Signer] = {}
    for signer in candidates:
        if signer is not None and signer.email:
            unique.setdefault(signer.email.lower(), signer)
    return list(unique.values())


def deal_create_body(
    *,
    name: str,
    stage_id: str,
    owner_id: str | None = None,
    custom_fields: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """``POST /deals``: everything inside ``deal``, no inline contacts (they always duplicate)."""
    deal: dict[str, Any] = {"name": name, "deal_stage_id": stage_id}
    if owner_id:
        deal["user_id"] = owner_id
    if custom_fields:
        deal["deal_custom_fields"] = custom_fields
    return {"deal": deal}


def deal_update_body(
    *,
    stage_id: str | None = None,
    custom_fields: list[dict[str, str]] | None = None,
    win: bool | None = None,
) -> dict[str, Any] | None:
    """``PUT /deals/{id}``; ``deal_stage_id`` at the top level, where RD actually reads it."""
    body: dict[str, Any] = {}
    deal: dict[str, Any] = {}
    if stage_id:
        body["deal_stage_id"] = stage_id
    if custom_fields:
        deal["deal_custom_fields"] = custom_fields
    if win is not None:
        deal["win"] = win
    if deal:
        body["deal"] = deal
    return body or None


def document_key_custom_field(field_id: str | None, document_key: str) -> list[dict[str, str]]:
    """The deal custom field that carries the Clicksign document key, when one is configured."""
    return [{"custom_field_id": field_id, "value": document_key}] if field_id else []


def contact_create_body(signer: Signer, deal_ids: list[str]) -> dict[str, Any]:
    """``POST /contacts`` for a signer, already linked to ``deal_ids``."""
    email = signer.email or ""
    contact: dict[str, Any] = {
        "name": contact_name(signer),
        "emails": [{"email": email}],
        "deal_ids": deal_ids,
    }
    phone = rd_text(signer.phone_number)
    if phone:
        contact["phones"] = [{"phone": phone, "type": "cellphone"}]
    return contact


def rd_text(value: str | None) -> str | None:
    """``value`` as RD v1 stores it, or None when RD would refuse it: "Toda informação
    cadastrada deve conter no mínimo 2 caracteres" (blank and one-character values)."""
    text = (value or "").strip()
    return text if len(text) >= MIN_TEXT else None


def left_out(label: str, value: str | None) -> str:
    """The history's note for a value `rd_text` refused."""
    if not (value or "").strip():
        return f"{label} left out: nothing to write"
    return f"{label} left out: {value!r} is shorter than RD's {MIN_TEXT} characters"


def disambiguated_contact_name(signer: Signer) -> str:
    """A contact name RD has not seen, for when it refuses a repeated one ("não pode se
    repetir"): the name with the signer's e-mail."""
    return f"{contact_name(signer)} ({signer.email})"


def contact_name(signer: Signer) -> str:
    name = (signer.name or "").strip()
    if len(name) >= MIN_TEXT:
        return name
    local_part = (signer.email or "").split("@", 1)[0]
    return local_part if len(local_part) >= MIN_TEXT else "Signatário Clicksign"


def merged_deal_ids(existing: object, deal_id: str) -> list[str] | None:
    """The contact's deal list with ``deal_id`` added, or None when it is already there.

    RD's ``PUT /contacts/{id}`` may replace the whole list, so the union is always sent.
    """
    current = [str(item) for item in existing] if isinstance(existing, list) else []
    if deal_id in current:
        return None
    return [*current, deal_id]


def contact_deal_ids(contact: dict[str, Any]) -> list[str]:
    """Deal ids of a contact, from ``deal_ids`` (get) or ``deals`` (list items)."""
    if isinstance(contact.get("deal_ids"), list):
        return [str(item) for item in contact["deal_ids"]]
    deals = contact.get("deals")
    if isinstance(deals, list):
        return [str(deal.get("_id") or deal.get("id")) for deal in deals if isinstance(deal, dict)]
    return []


def rd_id(resource: dict[str, Any]) -> str:
    """RD v1 resources carry both ``_id`` and ``id`` with the same value."""
    value = resource.get("_id") or resource.get("id")
    if not value:
        raise ValueError("RD resource without an id")
    return str(value)
