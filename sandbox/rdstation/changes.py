"""Validated changes to contacts and deals: what a request body means once checked.

A key is present only when the request set it, so ``{"win": None}`` (reopen) differs from an
absent ``win`` (leave as is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict


class ProductInput(TypedDict):
    product_id: str | None
    name: str | None
    price: float
    amount: int
    discount: float
    discount_type: Literal["value", "percent"]
    recurrence: Literal["spare", "monthly"]


class ContactChanges(TypedDict, total=False):
    name: str
    title: str | None
    emails: list[str]
    phones: list[tuple[str, str | None]]
    birthday: dict[str, Any] | None
    organization_id: str | None
    deal_ids: list[str]
    custom_values: list[tuple[str, Any]]
    legal_bases: list[dict[str, str]]
    facebook: str | None
    linkedin: str | None
    skype: str | None
    notes: str | None


class DealChanges(TypedDict, total=False):
    name: str
    stage_id: str
    user_id: str
    rating: int
    prediction_date: str | None
    win: bool | None
    hold: bool | None
    deal_lost_reason_id: str | None
    deal_lost_note: str | None
    custom_values: list[tuple[str, Any]]
    products: list[ProductInput]
    organization: dict[str, Any] | None
    deal_source: dict[str, Any] | None
    campaign: dict[str, Any] | None


@dataclass
class NewDeal:
    """A checked ``POST /deals``: the deal, the inline contacts to create, and the inline
    contacts that were refused (reported in the deal's ``contact_errors``)."""

    deal: DealChanges
    contacts: list[ContactChanges] = field(default_factory=list)
    contact_errors: dict[str, Any] = field(default_factory=dict)
