"""Checks for ``deal_custom_fields`` / ``contact_custom_fields`` values, per field type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.rdstation.checks import (
    BLANK,
    MIN_TEXT,
    NOT_IN_LIST,
    FieldErrors,
    is_rd_date,
    too_short,
)
from sandbox.rdstation.errors import BadRequest
from sandbox.rdstation.models import CustomField, FieldOwner
from sandbox.rdstation.state import SandboxState


def unknown_field(field_id: object) -> BadRequest:
    """RD's 400 for an id that names no custom field (Ruby hash notation included)."""
    return BadRequest(
        f'Could not find a custom field that matches: {{:custom_field_id=>"{field_id}"}}'
    )


def check_custom_values(
    raw: Any,
    state: SandboxState,
    for_: FieldOwner,
    errors: FieldErrors,
    *,
    owner_id: str | None = None,
) -> list[tuple[str, Any]]:
    """``[{custom_field_id, value}]`` checked against the account's fields; an unknown id is a
    400 straight away, bad values are collected as 422 errors under ``<for>_custom_fields``."""
    key = f"{for_}_custom_fields"
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        errors.add(key, "deve ser uma lista de {custom_field_id, value}")
        return []
    checked: list[tuple[str, Any]] = []
    for item in raw:
        field_id = item.get("custom_field_id")
        custom = state.custom_field(field_id, for_) if isinstance(field_id, str) else None
        if custom is None:
            raise unknown_field(field_id)
        value = item.get("value")
        problem = value_problem(custom, value)
        if problem is None and _taken(custom, value, state, owner_id):
            problem = "já está em uso"
        if problem is not None:
            errors.add(key, f"{custom.label}: {problem}")
            continue
        checked.append((custom.id, _normalized(custom, value)))
    return checked


def missing_required(
    values: list[tuple[str, Any]], state: SandboxState, for_: FieldOwner, errors: FieldErrors
) -> None:
    """Fields marked "required always" must come with a value on create."""
    given = {field_id for field_id, value in values if value not in (None, "", [])}
    for custom in state.custom_fields_for(for_):
        if custom.required and custom.id not in given:
            errors.add(f"{for_}_custom_fields", f"{custom.label}: {BLANK}")


def value_problem(custom: CustomField, value: Any) -> str | None:
    """Why ``value`` does not fit ``custom``, or None when it does (None always fits: clears)."""
    if value is None:
        return None
    if custom.type == "text":
        if not isinstance(value, str | int | float):
            return "deve ser texto"
        return too_short(custom.label) if len(str(value).strip()) < MIN_TEXT else None
    if custom.type == "date":
        ok = isinstance(value, str) and is_rd_date(value)
        return None if ok else "data inválida, use o formato DD/MM/AAAA"
    if custom.type == "option":
        return None if _option_ok(custom, value) else NOT_IN_LIST
    choices = value if isinstance(value, list) else [value]
    return None if all(_option_ok(custom, choice) for choice in choices) else NOT_IN_LIST


def _taken(custom: CustomField, value: Any, state: SandboxState, owner_id: str | None) -> bool:
    """A unique field ("CPF") refuses a value another deal or contact already holds."""
    if not custom.unique or value is None:
        return False
    return state.custom_value_taken(custom.id, value, custom.for_, owner_id)


def _option_ok(custom: CustomField, value: Any) -> bool:
    return isinstance(value, str) and (custom.allow_new or value in custom.opts)


def _normalized(custom: CustomField, value: Any) -> Any:
    if custom.type == "text" and isinstance(value, int | float):
        return str(value)
    if custom.type == "multiple_choice" and isinstance(value, str):
        return [value]
    return value
