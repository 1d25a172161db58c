"""Small validators shared by the contact and deal payload checks, collecting RD-style errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, NoReturn

from sandbox.rdstation.errors import ValidationFailed

MIN_TEXT = 2
_DD_MM_YYYY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_YYYY_MM_DD = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
BLANK = "não pode ficar em branco"
NOT_IN_LIST = "Não está incluído na lista."
INVALID = "não é válido"


class FieldErrors:
    """Collects ``{"<field>": [<messages>]}``; `raise_if_any` turns them into a 422."""

    def __init__(self) -> None:
        self.errors: dict[str, list[Any]] = {}

    def add(self, field: str, message: Any) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def fail(field: str, message: Any) -> NoReturn:
    raise ValidationFailed({field: [message]})


def check_name(raw: Any, errors: FieldErrors, label: str = "Nome") -> str | None:
    """A name: a string of at least two characters ("Toda informação ... mínimo 2 caracteres")."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.add("name", BLANK)
        return None
    if not isinstance(raw, str):
        errors.add(
            "name", {"error_type": "MUST_BE_STRING", "error_message": "Name must be string."}
        )
        return None
    if len(raw.strip()) < MIN_TEXT:
        errors.add("name", too_short(label))
        return None
    return raw.strip()


def optional_text(body: Mapping[str, Any], key: str, errors: FieldErrors) -> str | None:
    """A text RD stores: null clears it; otherwise at least two characters ("Toda informação
    cadastrada deve conter no mínimo 2 caracteres"; whether RD refuses '' too is UNCONFIRMED —
    the sandbox takes the strict reading)."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(key, INVALID)
        return None
    if len(value.strip()) < MIN_TEXT:
        errors.add(key, too_short(key))
        return None
    return value


def too_short(label: str) -> str:
    return f"{label} está muito curto, use no mínimo {MIN_TEXT} caracteres."


def optional_bool(body: Mapping[str, Any], key: str, errors: FieldErrors) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    errors.add(key, INVALID)
    return None


def is_rd_date(value: str) -> bool:
    """``DD/MM/YYYY`` naming a real day, the only format RD's date custom fields take."""
    match = _DD_MM_YYYY.match(value)
    return match is not None and _real_day(int(match[3]), int(match[2]), int(match[1]))


def is_iso_date(value: str) -> bool:
    match = _YYYY_MM_DD.match(value)
    return match is not None and _real_day(int(match[1]), int(match[2]), int(match[3]))


def _real_day(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def id_reference(
    raw: Any, field: str, errors: FieldErrors, new_id: Callable[[], str]
) -> dict[str, Any] | None:
    """``{"_id": ...}`` or ``{"name": ...}`` for organization, deal_source and campaign."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors.add(field, INVALID)
        return None
    ref_id = raw.get("_id") or raw.get("id")
    name = raw.get("name")
    if not isinstance(ref_id, str) and not isinstance(name, str):
        errors.add(field, INVALID)
        return None
    ref_id = ref_id if isinstance(ref_id, str) else new_id()
    return {"_id": ref_id, "id": ref_id, "name": name if isinstance(name, str) else None}
