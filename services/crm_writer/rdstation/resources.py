"""Lenient, typed views over the JSON RD Station CRM v1 answers with.

RD's resources carry their id as ``_id``, ``id`` or both; a deal's stage is an object; a custom
field value names its field by ``custom_field_id`` or inside ``custom_field``; a contact lists its
deals as ``deal_ids`` (get) or ``deals`` (list items). Each of those readings is written once,
here; callers ask a view and never chain ``dict.get`` over RD's answers themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import parse_timestamp

Json = Mapping[str, Any]


def _raw_id(resource: Json) -> Any:
    return resource.get("_id") or resource.get("id")


def resource_id(resource: Json) -> str | None:
    """RD v1 resources carry ``_id`` and ``id`` with the same value; either may be missing."""
    value = _raw_id(resource)
    return str(value) if value else None


def rd_id(resource: Json) -> str:
    """The id of a resource RD just returned; `ValueError` when it has none."""
    value = resource_id(resource)
    if value is None:
        raise ValueError("RD resource without an id")
    return value


def created_at_text(resource: Json) -> str:
    """``created_at`` as RD wrote it: ISO 8601 in one offset, so the text orders the times."""
    return str(resource.get("created_at") or "")


def oldest(resources: Sequence[Json]) -> Json:
    """The resource RD created first (the first of equals)."""
    return min(resources, key=created_at_text)


def merged_deal_ids(existing: object, deal_id: str) -> list[str] | None:
    """The contact's deal list with ``deal_id`` added, or None when it is already there.

    RD's ``PUT /contacts/{id}`` may replace the whole list, so the union is always sent.
    """
    current = [str(item) for item in existing] if isinstance(existing, list) else []
    if deal_id in current:
        return None
    return [*current, deal_id]


def contact_deal_ids(contact: Json) -> list[str]:
    """Deal ids of a contact, from ``deal_ids`` (get) or ``deals`` (list items)."""
    deal_ids = contact.get("deal_ids")
    if isinstance(deal_ids, list):
        return [str(item) for item in deal_ids]
    deals = contact.get("deals")
    if isinstance(deals, list):
        return [str(_raw_id(deal)) for deal in deals if isinstance(deal, dict)]
    return []


@dataclass(frozen=True)
class RdDeal:
    """A deal as ``GET /deals/{id}`` or a ``GET /deals`` item shows it."""

    raw: Json

    @property
    def id(self) -> str:
        return rd_id(self.raw)

    @property
    def stage_id(self) -> str | None:
        """The stage the deal sits in (``deal_stage``), if RD says."""
        stage = self.raw.get("deal_stage")
        return resource_id(stage) if isinstance(stage, dict) else None

    @property
    def created_at(self) -> datetime | None:
        return parse_timestamp(self.raw.get("created_at"))

    def custom_field_value(self, field_id: str) -> str | None:
        """The deal's value of custom field ``field_id``; None when it has none."""
        fields = self.raw.get("deal_custom_fields")
        if not isinstance(fields, list):
            return None
        for entry in fields:
            if isinstance(entry, dict) and _field_id(entry) == field_id:
                return None if entry.get("value") is None else str(entry["value"])
        return None


def _field_id(entry: Json) -> Any:
    custom = entry.get("custom_field")
    return entry.get("custom_field_id") or (custom.get("_id") if isinstance(custom, dict) else None)


@dataclass(frozen=True)
class RdContact:
    """A contact as ``GET /contacts/{id}`` or a ``GET /contacts`` item shows it."""

    raw: Json

    @property
    def id(self) -> str:
        return rd_id(self.raw)

    @property
    def deal_ids(self) -> list[str]:
        return contact_deal_ids(self.raw)

    def deal_ids_with(self, deal_id: str) -> list[str] | None:
        """Its deal list with ``deal_id`` added (`merged_deal_ids`); None if already linked."""
        return merged_deal_ids(self.deal_ids, deal_id)


def first_stage_id(pipelines: Sequence[Json]) -> str | None:
    """The first stage of the first pipeline that lists stages (``deal_stages``), if any."""
    for pipeline in pipelines:
        stages = pipeline.get("deal_stages")
        if isinstance(stages, list) and stages and isinstance(stages[0], dict):
            return resource_id(stages[0])
    return None
