"""One event of the history as a person reads it: the seed's "Histórico → Detalhes".

What came from Clicksign (event, document, signer), what was sent to RD Station (each request)
and RD's answer (status and a one-line summary), attempts, timings, error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from services.crm_writer.call_history import call_target, error_summary
from services.crm_writer.rdstation.resources import resource_id
from signdeal_cli.console import clip, show_duration, show_time

BODY_WIDTH = 400
_LIST_KEYS = ("contacts", "deals", "users", "deal_stages", "custom_fields", "deal_pipelines")


def detail_lines(event: dict[str, Any], deal_link: str | None, *, full: bool = False) -> list[str]:
    """Every line of ``signdeal history show`` for ``event`` (a full history record)."""
    payload = event.get("payload") or {}
    lines = _fields(_summary(event, deal_link))
    lines += ["", "What came from Clicksign", *_fields(_clicksign(payload), indent="  ")]
    if full:
        raw = orjson.dumps(payload.get("raw"), option=orjson.OPT_INDENT_2).decode()
        lines += [_body_label(payload.get("raw")), *("    " + line for line in raw.splitlines())]
    calls = event.get("rd_calls") or []
    # Clicksign's API calls (a thin webhook completed) share the list, marked "api": "clicksign".
    asked = "RD Station" if not any(c.get("api") for c in calls) else "RD Station and Clicksign"
    lines += ["", f"What was sent to {asked} ({len(calls)} request(s), oldest first)"]
    if not calls:
        lines.append("  (nothing yet)")
    for number, call in enumerate(calls, start=1):
        lines += _call_lines(number, call, full)
    return lines


def _body_label(raw: object) -> str:
    """The stored body lacks what crm_writer drops before storing (docs/privacy.md): say so."""
    removed = raw.get("_removed") if isinstance(raw, dict) else None
    if not removed:
        return "  webhook body:"
    return f"  webhook body, as stored ({len(removed)} field(s) left out: see _removed):"


def _summary(event: dict[str, Any], deal_link: str | None) -> list[tuple[str, object]]:
    status = str(event.get("status"))
    if event.get("outcome"):
        status += f" ({event['outcome']})"
    deal = event.get("deal_id")
    return [
        ("event", f"{event.get('event_id')} ({event.get('event_name')})"),
        ("status", status),
        ("deal", f"{deal}  {deal_link}" if deal and deal_link else deal),
        ("attempts", f"{event.get('attempts')} ({event.get('duplicates', 0)} duplicate(s))"),
        ("error", event.get("error")),
        ("note", event.get("note")),
        ("received", show_time(event.get("received_at"))),
        ("first attempt", show_time(event.get("first_attempt_at"))),
        ("last attempt", show_time(event.get("last_attempt_at"))),
        ("finished", show_time(event.get("finished_at"))),
        ("took", show_duration(event.get("duration_ms"))),
        ("correlation id", event.get("correlation_id")),
    ]


def _clicksign(payload: dict[str, Any]) -> list[tuple[str, object]]:
    document = payload.get("document") or {}
    signers = [s for s in payload.get("signers") or [] if isinstance(s, dict)]
    metadata = document.get("metadata") or None
    return [
        ("event", f"{payload.get('event_name')} at {payload.get('occurred_at')}"),
        ("account", payload.get("account_key")),
        ("document", document.get("key")),
        ("file", document.get("filename")),
        ("path", document.get("path")),
        ("status", document.get("status")),
        ("metadata", orjson.dumps(metadata).decode() if metadata else None),
        ("signer", _person(payload.get("signer"))),
        ("signers", [_person(s) or "?" for s in signers] or None),
    ]


def _person(signer: object) -> str | None:
    if not isinstance(signer, dict):
        return None
    parts = [str(signer.get("name") or "?")]
    if signer.get("email"):
        parts.append(f"<{signer['email']}>")
    if signer.get("documentation"):
        parts.append(f"CPF {signer['documentation']}")
    if signer.get("phone_number"):
        parts.append(f"phone {signer['phone_number']}")
    return " ".join(parts)


def _call_lines(number: int, call: dict[str, Any], full: bool) -> list[str]:
    target = call_target(call)
    answer = "no answer" if call.get("status") is None else str(call["status"])
    timing = show_duration(call.get("duration_ms"))
    api = f"[{call['api']}] " if call.get("api") else ""
    lines = [f"  {number:>2}. {api}{call.get('method')} {target} → {answer} in {timing}"]
    if call.get("request") is not None:
        lines.append("      sent:   " + _json_text(call["request"], full))
    summary = call.get("error") or summarise_answer(call.get("status"), call.get("response"))
    if full and call.get("response") is not None:
        summary = _json_text(call["response"], full=True)
    lines.append("      answer: " + summary)
    return lines


def _json_text(value: Any, full: bool) -> str:
    text = orjson.dumps(value).decode()
    return text if full else clip(text, BODY_WIDTH)


def summarise_answer(status: object, response: Any) -> str:
    """RD's answer in one line: the record it returned, how many items, or its error."""
    if response is None:
        return "empty"
    if isinstance(status, int) and status >= 400:
        return error_summary(response)
    if isinstance(response, list):
        return f"{len(response)} item(s)"
    if isinstance(response, dict):
        for key in _LIST_KEYS:
            items = response.get(key)
            if isinstance(items, list):
                return f"{len(items)} {key}" + _ids(items)
        return _record(response)
    return clip(str(response), 120)


def _ids(items: Iterable[Any]) -> str:
    ids = [str(resource_id(item)) for item in items if isinstance(item, dict)]
    return f": {', '.join(ids[:5])}{'…' if len(ids) > 5 else ''}" if ids else ""


def _record(response: dict[str, Any]) -> str:
    identifier = resource_id(response)
    name = response.get("name")
    parts = [f"id {identifier}"] if identifier else []
    if name:
        parts.append(f'"{name}"')
    stage = response.get("deal_stage")
    if isinstance(stage, dict) and stage.get("name"):
        parts.append(f'stage "{stage["name"]}"')
    deal_ids = response.get("deal_ids")
    if isinstance(deal_ids, list):
        parts.append(f"deals {', '.join(str(d) for d in deal_ids)}")
    return ", ".join(parts) or f"{len(response)} field(s)"


def _fields(pairs: list[tuple[str, object]], indent: str = "") -> list[str]:
    """``label  value`` lines, labels aligned; a list value takes one line per item."""
    width = max(len(label) for label, _ in pairs)
    lines = []
    for label, value in pairs:
        if value is None or value == "":
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            shown = label if index == 0 else ""
            lines.append(f"{indent}{shown.ljust(width)}  {item}")
    return lines
