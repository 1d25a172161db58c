"""One history row as the page shows it: pure functions from an `EventRecord` to what the list
and the details print (the same reading as ``signdeal history show``, laid out for a browser).

What signdeal derives from the event is computed, not stored: `derive` runs the pipeline's own
pure planning (`deal_plan.plan_deal`, `mapping.signers_to_link`) over the stored payload with the
settings crm_writer runs with now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from services.crm_writer.call_history import call_target, error_summary
from services.crm_writer.deal_plan import DealPlan, DealSettings, Skip, plan_deal, signers_to_link
from services.crm_writer.store import EventRecord, EventStatus, Outcome
from services.crm_writer.store.stored_payload import REMOVED_KEY
from shared.events import SignedDocumentEvent, Signer

API_NAMES = {None: "RD Station", "clicksign": "Clicksign"}


@dataclass(frozen=True)
class EventRow:
    """One line of the list."""

    event_id: str
    event_name: str
    chips: tuple[str, ...]
    document_key: str
    document_name: str
    signers: tuple[str, ...]
    deal_id: str | None
    attempts: int
    when: datetime


def chips_of(record: EventRecord) -> tuple[str, ...]:
    """The status chips of an event: its status ("ignored" for a done event that changed
    nothing), and "duplicate" when Clicksign delivered it more than once."""
    status = record.status.value
    if record.status is EventStatus.DONE and record.outcome is Outcome.IGNORED:
        status = "ignored"
    return (status, "duplicate") if record.duplicates > 0 else (status,)


def event_row(record: EventRecord) -> EventRow:
    return EventRow(
        event_id=record.event_id,
        event_name=record.event_name,
        chips=chips_of(record),
        document_key=record.document_key,
        document_name=document_name(record.payload) or record.document_key,
        signers=tuple(person_label(signer) for signer in people(record.payload)),
        deal_id=record.deal_id,
        attempts=record.attempts,
        when=record.last_attempt_at,
    )


def document_name(payload: dict[str, Any]) -> str | None:
    document = payload.get("document")
    name = document.get("filename") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else None


def people(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's signer first, then the document's other signers, each once (by e-mail or
    key)."""
    found: dict[str, dict[str, Any]] = {}
    for person in [payload.get("signer"), *(payload.get("signers") or [])]:
        if isinstance(person, dict):
            key = str(person.get("email") or person.get("key") or person.get("name") or "")
            found.setdefault(key.lower(), person)
    return list(found.values())


def person_label(person: dict[str, Any]) -> str:
    name, email = person.get("name"), person.get("email")
    if name and email:
        return f"{name} <{email}>"
    return str(name or email or "?")


# -- the details ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallView:
    """One request to an outside API with its answer."""

    number: int
    api: str
    method: str
    target: str
    status: int | None
    failed: bool
    duration_ms: float | None
    request: str | None
    response: str | None
    summary: str | None


def call_views(calls: list[dict[str, Any]]) -> list[CallView]:
    return [_call_view(number, call) for number, call in enumerate(calls, start=1)]


def _call_view(number: int, call: dict[str, Any]) -> CallView:
    status = call.get("status") if isinstance(call.get("status"), int) else None
    failed = bool(call.get("error")) or status is None or status >= 400
    return CallView(
        number=number,
        api=API_NAMES.get(call.get("api"), str(call.get("api"))),
        method=str(call.get("method") or ""),
        target=call_target(call),
        status=status,
        failed=failed,
        duration_ms=call.get("duration_ms"),
        request=pretty_json(call["request"]) if call.get("request") is not None else None,
        response=pretty_json(call["response"]) if call.get("response") is not None else None,
        summary=_failure_summary(call) if failed else None,
    )


def _failure_summary(call: dict[str, Any]) -> str:
    if call.get("error"):
        return str(call["error"])
    return error_summary(call.get("response"))


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def removed_fields(payload: dict[str, Any]) -> int:
    """How many fields of the webhook body were not stored (docs/privacy.md)."""
    raw = payload.get("raw")
    removed = raw.get(REMOVED_KEY) if isinstance(raw, dict) else None
    return len(removed) if isinstance(removed, list) else 0


@dataclass(frozen=True)
class Derivation:
    """What the pipeline's planning makes of the event: a plan, a reason to skip it, or why the
    stored event could not be read."""

    plan: DealPlan | None = None
    skip_reason: str | None = None
    unreadable: str | None = None
    signers: list[Signer] = field(default_factory=list)


def derive(payload: dict[str, Any], settings: DealSettings) -> Derivation:
    try:
        event = SignedDocumentEvent.model_validate(payload)
    except ValidationError as exc:
        return Derivation(unreadable=f"{exc.error_count()} problem(s): {exc.errors()[0]['msg']}")
    plan = plan_deal(event, settings)
    if isinstance(plan, Skip):
        return Derivation(skip_reason=plan.reason)
    return Derivation(plan=plan, signers=signers_to_link(event))
