"""Search, order and paging for the list endpoints, as plain functions over the records."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sandbox.rdstation.errors import BadRequest, TechnicalProblems
from sandbox.rdstation.models import Contact, Deal
from sandbox.rdstation.state import SandboxState

T = TypeVar("T")
Query = Mapping[str, str]

DEAL_ORDERS = frozenset({"created_at", "updated_at", "name", "rating", "prediction_date"})
CONTACT_ORDERS = frozenset({"name", "created_at", "updated_at"})


@dataclass(frozen=True)
class PageRequest:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    total: int


def page_request(query: Query, *, default_limit: int = 20, max_limit: int = 200) -> PageRequest:
    """``page``/``limit`` from the query; ``limit`` above the maximum is cut down to it. A value
    that is not a number is a 500 with RD's HTML page ("500: invalid parameter")."""
    try:
        page = int(query.get("page", "1"))
        limit = int(query.get("limit", str(default_limit)))
    except ValueError:
        raise TechnicalProblems("page and limit must be integers") from None
    return PageRequest(max(page, 1), min(max(limit, 1), max_limit))


def paginate(items: Sequence[T], request: PageRequest, cap: int | None = None) -> Page[T]:
    """One page of ``items``; only the first ``cap`` are reachable, ``total`` counts them all."""
    reachable = items[:cap] if cap is not None else items
    chunk = list(reachable[request.offset : request.offset + request.limit])
    return Page(chunk, request.offset + len(chunk) < len(reachable), len(items))


def search_deals(state: SandboxState, query: Query) -> list[Deal]:
    """Deals matching the documented ``GET /deals`` filters, in the requested order."""
    checks = [check for check in _deal_checks(state, query) if check is not None]
    found = [deal for deal in state.deals if all(check(deal) for check in checks)]
    order = query.get("order", "created_at")
    return _ordered(found, order if order in DEAL_ORDERS else "created_at", query, "desc")


def _deal_checks(state: SandboxState, query: Query) -> list[Callable[[Deal], bool] | None]:
    name = query.get("name")
    exact = query.get("exact_name") == "true"

    def in_pipeline(deal: Deal) -> bool:
        stage = state.stage(deal.stage_id)
        return stage is not None and stage.pipeline_id == query["deal_pipeline_id"]

    return [
        _name_check(name, exact) if name else None,
        _equals("stage_id", query.get("deal_stage_id")),
        in_pipeline if query.get("deal_pipeline_id") else None,
        _equals("user_id", query.get("user_id")),
        _equals("deal_lost_reason_id", query.get("deal_lost_reason_id")),
        _state_check("win", query.get("win")),
        (lambda deal: deal.hold is True) if query.get("hold") == "true" else None,
        _closed_check(query.get("closed_at")),
        _reference_check("organization", query.get("organization")),
        _reference_check("campaign", query.get("campaign_id")),
    ]


def _name_check(name: str, exact: bool) -> Callable[[Deal], bool]:
    if exact:
        return lambda deal: deal.name == name
    wanted = name.casefold()
    return lambda deal: wanted in deal.name.casefold()


def _equals(attribute: str, value: str | None) -> Callable[[Deal], bool] | None:
    if not value:
        return None
    return lambda deal: bool(getattr(deal, attribute) == value)


def _state_check(attribute: str, value: str | None) -> Callable[[Deal], bool] | None:
    wanted = {"true": True, "false": False, "null": None}
    if value not in wanted:
        return None
    return lambda deal: bool(getattr(deal, attribute) is wanted[value])


def _closed_check(value: str | None) -> Callable[[Deal], bool] | None:
    if value not in ("true", "false"):
        return None
    return lambda deal: (deal.win is not None) == (value == "true")


def _reference_check(attribute: str, value: str | None) -> Callable[[Deal], bool] | None:
    if not value:
        return None

    def check(deal: Deal) -> bool:
        reference: dict[str, Any] | None = getattr(deal, attribute)
        return reference is not None and reference.get("_id") == value

    return check


def deal_cursor(deal: Deal) -> str:
    """A ``next_page`` value shaped like RD's (``i-<ms>,s-<id>``)."""
    return f"i-{int(deal.created_at.timestamp() * 1000)},s-{deal.id}"


def after_cursor(deals: list[Deal], cursor: str) -> list[Deal]:
    """The deals after the one a ``next_page`` cursor points at."""
    last_id = cursor.rpartition("s-")[2]
    for position, deal in enumerate(deals):
        if deal.id == last_id:
            return deals[position + 1 :]
    raise BadRequest(f"Invalid next_page: {cursor}")


def search_contacts(contacts: list[Contact], query: Query) -> list[Contact]:
    """Contacts matching ``email`` (exact, any case), ``q`` (name part), ``phone``, ``title``."""
    email, name = query.get("email"), query.get("q")
    phone, title = query.get("phone"), query.get("title")
    found = [
        contact
        for contact in contacts
        if (not email or contact.has_email(email))
        and (not name or name.casefold() in contact.name.casefold())
        and (not phone or _phone_matches(contact, phone))
        and (not title or title.casefold() in (contact.title or "").casefold())
    ]
    order = query.get("order", "name")
    return _ordered(found, order if order in CONTACT_ORDERS else "name", query, "asc")


def _phone_matches(contact: Contact, phone: str) -> bool:
    wanted = "".join(c for c in phone if c.isdigit())
    return any(wanted in "".join(c for c in p.phone if c.isdigit()) for p in contact.phones)


def _ordered(items: list[T], order: str, query: Query, default_direction: str) -> list[T]:
    """Sorted by ``order`` (ties by creation), records without a value for it last."""
    descending = query.get("direction", default_direction) == "desc"

    def key(item: T) -> tuple[Any, int]:
        value = getattr(item, order)
        return (value.casefold() if isinstance(value, str) else value, getattr(item, "seq", 0))

    present = [item for item in items if getattr(item, order) is not None]
    absent = [item for item in items if getattr(item, order) is None]
    return sorted(present, key=key, reverse=descending) + absent
