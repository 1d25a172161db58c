"""The records the sandbox keeps: plain mutable dataclasses, rendered to RD's JSON elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

FieldType = Literal["text", "date", "option", "multiple_choice"]
FieldOwner = Literal["deal", "contact", "organization"]


@dataclass
class User:
    id: str
    name: str
    email: str
    nickname: str
    created_at: datetime
    updated_at: datetime
    last_login: datetime | None = None
    active: bool = True
    hidden: bool = False


@dataclass
class Stage:
    id: str
    name: str
    nickname: str
    order: int
    pipeline_id: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Pipeline:
    id: str
    name: str
    order: int
    stages: list[Stage]
    created_at: datetime
    updated_at: datetime


@dataclass
class CustomField:
    id: str
    label: str
    type: FieldType
    for_: FieldOwner
    order: int
    created_at: datetime
    updated_at: datetime
    opts: list[str] = field(default_factory=list)
    required: bool = False
    unique: bool = False
    visible: bool = True
    allow_new: bool = False


@dataclass
class CustomValue:
    custom_field_id: str
    value: Any
    created_at: datetime
    updated_at: datetime


@dataclass
class Email:
    id: str
    email: str
    created_at: datetime


@dataclass
class Phone:
    id: str
    phone: str
    type: str | None
    created_at: datetime


@dataclass
class Contact:
    id: str
    seq: int
    name: str
    created_at: datetime
    updated_at: datetime
    title: str | None = None
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    birthday: dict[str, Any] | None = None
    organization_id: str | None = None
    deal_ids: list[str] = field(default_factory=list)
    custom_values: list[CustomValue] = field(default_factory=list)
    legal_bases: list[dict[str, str]] = field(default_factory=list)
    facebook: str | None = None
    linkedin: str | None = None
    skype: str | None = None
    notes: str | None = None

    def has_email(self, email: str) -> bool:
        wanted = email.strip().casefold()
        return any(item.email.casefold() == wanted for item in self.emails)


@dataclass
class StageHistory:
    id: str
    deal_stage_id: str
    start_date: datetime
    end_date: datetime | None = None


@dataclass
class DealProduct:
    id: str
    product_id: str | None
    name: str | None
    price: float
    amount: int
    discount: float
    discount_type: Literal["value", "percent"]
    recurrence: Literal["spare", "monthly"]
    created_at: datetime

    @property
    def total(self) -> float:
        gross = self.price * self.amount
        if self.discount_type == "percent":
            return round(gross * (1 - self.discount / 100), 2)
        return round(gross - self.discount, 2)


@dataclass
class Deal:
    id: str
    seq: int
    name: str
    stage_id: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    rating: int = 1
    prediction_date: str | None = None
    win: bool | None = None
    hold: bool | None = None
    closed_at: datetime | None = None
    deal_lost_reason_id: str | None = None
    deal_lost_note: str | None = None
    custom_values: list[CustomValue] = field(default_factory=list)
    stage_histories: list[StageHistory] = field(default_factory=list)
    products: list[DealProduct] = field(default_factory=list)
    organization: dict[str, Any] | None = None
    deal_source: dict[str, Any] | None = None
    campaign: dict[str, Any] | None = None
    contact_errors: dict[str, Any] = field(default_factory=dict)
