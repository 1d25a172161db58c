"""``{"contact": {...}}`` bodies (and inline deal contacts) checked into `ContactChanges`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.rdstation.changes import ContactChanges
from sandbox.rdstation.checks import (
    INVALID,
    NOT_IN_LIST,
    FieldErrors,
    check_name,
    is_iso_date,
    optional_text,
)
from sandbox.rdstation.custom_fields import check_custom_values, missing_required
from sandbox.rdstation.state import SandboxState

NAME_TAKEN = "Nome já está em uso"  # wording UNCONFIRMED
PHONE_TYPES = frozenset({"cellphone", "home", "work", "fax"})
LEGAL_BASIS_VALUES = {
    "category": frozenset({"communications", "data_processing"}),
    "type": frozenset(
        {
            "consent",
            "judicial_process",
            "legitimate_interest",
            "pre_existent_contract",
            "public_interest",
            "vital_interest",
        }
    ),
    "status": frozenset({"granted", "declined"}),
}


def parse_contact(
    raw: Any, state: SandboxState, *, creating: bool, contact_id: str | None = None
) -> ContactChanges:
    """The ``contact`` object of a POST/PUT, or a 422 listing every bad field."""
    errors = FieldErrors()
    changes = contact_changes(raw, state, errors, creating=creating, contact_id=contact_id)
    errors.raise_if_any()
    return changes


def contact_changes(
    raw: Any,
    state: SandboxState,
    errors: FieldErrors,
    *,
    creating: bool,
    contact_id: str | None = None,
) -> ContactChanges:
    if raw is not None and not isinstance(raw, Mapping):
        errors.add("contact", INVALID)
    body: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    changes: ContactChanges = {}
    if creating or "name" in body:
        name = check_name(body.get("name"), errors)
        if name is not None and _name_taken(name, state, contact_id):
            errors.add("name", NAME_TAKEN)
        elif name is not None:
            changes["name"] = name
    _texts(body, changes, errors)
    if "emails" in body:
        changes["emails"] = _emails(body["emails"], errors)
    if "phones" in body:
        changes["phones"] = _phones(body["phones"], errors)
    if "birthday" in body:
        changes["birthday"] = _birthday(body["birthday"], errors)
    if "deal_ids" in body:
        changes["deal_ids"] = _deal_ids(body["deal_ids"], state, errors)
    for key in ("legal_bases", "legal_base"):
        if key in body:
            changes["legal_bases"] = _legal_bases(body[key], errors)
    if "contact_custom_fields" in body:
        changes["custom_values"] = check_custom_values(
            body["contact_custom_fields"], state, "contact", errors, owner_id=contact_id
        )
    if creating:
        missing_required(changes.get("custom_values", []), state, "contact", errors)
    return changes


def _name_taken(name: str, state: SandboxState, contact_id: str | None) -> bool:
    """RD's contact docs: the name "não pode se repetir". Whether RD enforces it, and its exact
    message, are UNCONFIRMED: the sandbox takes the strict reading so signdeal copes with it."""
    holder = state.contact_named(name)
    return holder is not None and holder.id != contact_id


def _texts(body: Mapping[str, Any], changes: ContactChanges, errors: FieldErrors) -> None:
    if "title" in body:
        changes["title"] = optional_text(body, "title", errors)
    if "organization_id" in body:
        changes["organization_id"] = optional_text(body, "organization_id", errors)
    if "facebook" in body:
        changes["facebook"] = optional_text(body, "facebook", errors)
    if "linkedin" in body:
        changes["linkedin"] = optional_text(body, "linkedin", errors)
    if "skype" in body:
        changes["skype"] = optional_text(body, "skype", errors)
    if "notes" in body:
        changes["notes"] = optional_text(body, "notes", errors)


def _emails(raw: Any, errors: FieldErrors) -> list[str]:
    items = raw if isinstance(raw, list) else [None]
    emails = [item.get("email") if isinstance(item, Mapping) else None for item in items]
    valid = [email.strip() for email in emails if isinstance(email, str) and "@" in email]
    if len(valid) != len(items):
        errors.add("emails", f"E-mail {INVALID}")
    return valid


def _phones(raw: Any, errors: FieldErrors) -> list[tuple[str, str | None]]:
    phones: list[tuple[str, str | None]] = []
    for item in raw if isinstance(raw, list) else [None]:
        number = item.get("phone") if isinstance(item, Mapping) else None
        kind = item.get("type") if isinstance(item, Mapping) else None
        if not isinstance(number, str) or not number.strip():
            errors.add("phones", f"Telefone {INVALID}")
        elif kind is not None and kind not in PHONE_TYPES:
            errors.add("type", NOT_IN_LIST)
        else:
            phones.append((number.strip(), kind))
    return phones


def _birthday(raw: Any, errors: FieldErrors) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str) and is_iso_date(raw):
        year, month, day = (int(part) for part in raw.split("-"))
        return {"day": day, "month": month, "year": year}
    parts = raw if isinstance(raw, Mapping) else {}
    if all(isinstance(parts.get(key), int) for key in ("day", "month")):
        return {"day": parts["day"], "month": parts["month"], "year": parts.get("year")}
    errors.add("birthday", INVALID)
    return None


def _deal_ids(raw: Any, state: SandboxState, errors: FieldErrors) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        errors.add("deal_ids", INVALID)
        return []
    for deal_id in raw:
        if state.deal(deal_id) is None:
            errors.add("deal_ids", f"Negociação {deal_id} não encontrada")
    return list(raw)


def _legal_bases(raw: Any, errors: FieldErrors) -> list[dict[str, str]]:
    bases: list[dict[str, str]] = []
    for item in raw if isinstance(raw, list) else [None]:
        basis = item if isinstance(item, Mapping) else {}
        if all(basis.get(key) in allowed for key, allowed in LEGAL_BASIS_VALUES.items()):
            bases.append({key: str(basis[key]) for key in LEGAL_BASIS_VALUES})
        else:
            errors.add("legal_bases", NOT_IN_LIST)
    return bases
