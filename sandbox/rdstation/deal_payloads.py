"""``POST /deals`` and ``PUT /deals/{id}`` bodies checked into `NewDeal` / `DealChanges`.

On create ``deal_stage_id`` goes inside ``deal``; on update only the top-level one moves the deal
and the one inside ``deal`` is silently ignored, the quirk RD documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.rdstation.changes import ContactChanges, DealChanges, NewDeal, ProductInput
from sandbox.rdstation.checks import (
    INVALID,
    FieldErrors,
    check_name,
    id_reference,
    is_iso_date,
    optional_bool,
    optional_text,
)
from sandbox.rdstation.contact_payloads import contact_changes
from sandbox.rdstation.custom_fields import check_custom_values, missing_required
from sandbox.rdstation.state import SandboxState

STAGE_NOT_FOUND = "Etapa de negociação não encontrada"
USER_NOT_FOUND = "Usuário não encontrado"


def parse_new_deal(body: Mapping[str, Any], state: SandboxState) -> NewDeal:
    """A create body, or a 422 listing every bad field (400 for an unknown custom field id)."""
    errors = FieldErrors()
    deal = deal_changes(_deal_object(body, errors), state, errors, creating=True)
    _references(body, ("organization", "deal_source", "campaign"), deal, state, errors)
    if "deal_products" in body:
        deal["products"] = _products(body["deal_products"], errors)
    contacts, contact_errors = _inline_contacts(body.get("contacts"), state, errors)
    errors.raise_if_any()
    return NewDeal(deal, contacts, contact_errors)


def parse_deal_update(
    body: Mapping[str, Any], state: SandboxState, deal_id: str
) -> tuple[DealChanges, str | None]:
    """An update body: the changes inside ``deal`` and the top-level stage to move to, if any."""
    errors = FieldErrors()
    changes = deal_changes(
        _deal_object(body, errors), state, errors, creating=False, deal_id=deal_id
    )
    _references(body, ("deal_source", "campaign"), changes, state, errors)
    stage_id = body.get("deal_stage_id")
    if stage_id is not None and (not isinstance(stage_id, str) or state.stage(stage_id) is None):
        errors.add("deal_stage_id", STAGE_NOT_FOUND)
    errors.raise_if_any()
    return changes, stage_id


def deal_changes(
    raw: Mapping[str, Any],
    state: SandboxState,
    errors: FieldErrors,
    *,
    creating: bool,
    deal_id: str | None = None,
) -> DealChanges:
    changes: DealChanges = {}
    if creating or "name" in raw:
        name = check_name(raw.get("name"), errors)
        if name is not None:
            changes["name"] = name
    if creating and raw.get("deal_stage_id") is not None:
        stage_id = raw["deal_stage_id"]
        if isinstance(stage_id, str) and state.stage(stage_id) is not None:
            changes["stage_id"] = stage_id
        else:
            errors.add("deal_stage_id", STAGE_NOT_FOUND)
    if raw.get("user_id") is not None:
        user_id = raw["user_id"]
        if isinstance(user_id, str) and state.user(user_id) is not None:
            changes["user_id"] = user_id
        else:
            errors.add("user_id", USER_NOT_FOUND)
    _scalars(raw, changes, errors)
    if "deal_custom_fields" in raw:
        changes["custom_values"] = check_custom_values(
            raw["deal_custom_fields"], state, "deal", errors, owner_id=deal_id
        )
    if creating:
        missing_required(changes.get("custom_values", []), state, "deal", errors)
    return changes


def _deal_object(body: Mapping[str, Any], errors: FieldErrors) -> Mapping[str, Any]:
    raw = body.get("deal")
    if raw is not None and not isinstance(raw, Mapping):
        errors.add("deal", INVALID)
    return raw if isinstance(raw, Mapping) else {}


def _scalars(raw: Mapping[str, Any], changes: DealChanges, errors: FieldErrors) -> None:
    if "rating" in raw:
        rating = raw["rating"]
        if isinstance(rating, int) and not isinstance(rating, bool) and 0 <= rating <= 5:
            changes["rating"] = rating
        else:
            errors.add("rating", INVALID)
    if "prediction_date" in raw:
        predicted = raw["prediction_date"]
        if predicted is None or (isinstance(predicted, str) and is_iso_date(predicted)):
            changes["prediction_date"] = predicted
        else:
            errors.add("prediction_date", "data inválida, use o formato AAAA-MM-DD")
    if "win" in raw:
        changes["win"] = optional_bool(raw, "win", errors)
    if "hold" in raw:
        changes["hold"] = optional_bool(raw, "hold", errors)
    if "deal_lost_reason_id" in raw:
        changes["deal_lost_reason_id"] = optional_text(raw, "deal_lost_reason_id", errors)
    if "deal_lost_note" in raw:
        changes["deal_lost_note"] = optional_text(raw, "deal_lost_note", errors)


def _references(
    body: Mapping[str, Any],
    keys: tuple[str, ...],
    changes: DealChanges,
    state: SandboxState,
    errors: FieldErrors,
) -> None:
    for key in keys:
        if key not in body:
            continue
        reference = id_reference(body[key], key, errors, state.new_id)
        if key == "organization":
            changes["organization"] = reference
        elif key == "deal_source":
            changes["deal_source"] = reference
        else:
            changes["campaign"] = reference


def _inline_contacts(
    raw: Any, state: SandboxState, errors: FieldErrors
) -> tuple[list[ContactChanges], dict[str, Any]]:
    """Inline contacts are always created anew. A refused one does not fail the deal: its errors
    go to the deal's ``contact_errors`` (guessed from that field in RD's deal schema)."""
    if raw is None:
        return [], {}
    if not isinstance(raw, list):
        errors.add("contacts", INVALID)
        return [], {}
    accepted: list[ContactChanges] = []
    refused: dict[str, Any] = {}
    for index, item in enumerate(raw):
        own_errors = FieldErrors()
        changes = contact_changes(item, state, own_errors, creating=True)
        changes.pop("deal_ids", None)
        if own_errors:
            refused[str(index)] = own_errors.errors
        else:
            accepted.append(changes)
    return accepted, refused


def _products(raw: Any, errors: FieldErrors) -> list[ProductInput]:
    products: list[ProductInput] = []
    for item in raw if isinstance(raw, list) else [None]:
        product = _product(item)
        if product is None:
            errors.add("deal_products", INVALID)
        else:
            products.append(product)
    return products


def _product(item: Any) -> ProductInput | None:
    if not isinstance(item, Mapping):
        return None
    price, amount, discount = item.get("price", 0), item.get("amount", 1), item.get("discount", 0)
    discount_type, recurrence = item.get("discount_type", "value"), item.get("recurrence", "spare")
    numbers_ok = all(
        isinstance(n, int | float) and not isinstance(n, bool) and n >= 0
        for n in (price, amount, discount)
    )
    if not numbers_ok or not isinstance(amount, int) or amount < 1:
        return None
    if discount_type not in ("value", "percent") or recurrence not in ("spare", "monthly"):
        return None
    product_id, name = item.get("product_id"), item.get("name")
    return ProductInput(
        product_id=product_id if isinstance(product_id, str) else None,
        name=name if isinstance(name, str) else None,
        price=float(price),
        amount=amount,
        discount=float(discount),
        discount_type=discount_type,
        recurrence=recurrence,
    )
