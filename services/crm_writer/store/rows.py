"""Stored rows to records, and Python values to what the columns hold.

SQLite hands timestamps back as ISO 8601 text and PostgreSQL as datetimes; both hand JSON back
as text (asyncpg's default for ``jsonb``). The readers here accept either, so the mapping is
written once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from services.crm_writer.store.base import DocumentRecord, EventRecord, EventStatus, Outcome


class Row(Protocol):
    """A result row by column name: `sqlite3.Row` and `asyncpg.Record` both are."""

    def __getitem__(self, key: str, /) -> Any: ...


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_text(moment: datetime) -> str:
    """Fixed-width UTC text, so that comparing and sorting the text orders the instants."""
    return as_utc(moment).isoformat(timespec="microseconds")


# A NUL character in a JSON string, as orjson writes it (``\u0000``) after an even run of
# backslashes, i.e. not a literal backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_text(value: Any) -> str:
    """``value`` as JSON text both backends store; a NUL in a string becomes U+FFFD, since
    PostgreSQL refuses NUL in jsonb and text (a signed webhook may carry one: it means nothing)."""
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def storable_text(value: str) -> str:
    """``value`` without NUL characters (replaced by U+FFFD), for a text column."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def event_record(row: Row) -> EventRecord:
    return EventRecord(
        event_id=row["event_id"],
        document_key=row["document_key"],
        event_name=row["event_name"],
        correlation_id=row["correlation_id"],
        status=EventStatus(row["status"]),
        attempts=row["attempts"],
        duplicates=row["duplicates"],
        payload=_json(row["payload"]),
        received_at=_time(row["received_at"]),
        first_attempt_at=_time(row["first_attempt_at"]),
        last_attempt_at=_time(row["last_attempt_at"]),
        outcome=Outcome(row["outcome"]) if row["outcome"] is not None else None,
        deal_id=row["deal_id"],
        rd_calls=_json(row["rd_calls"]),
        error=row["error"],
        finished_at=optional_time(row["finished_at"]),
        duration_ms=row["duration_ms"],
        note=row["note"],
        replays=_json(row["replays"]) if row["replays"] is not None else [],
    )


def document_record(row: Row) -> DocumentRecord:
    return DocumentRecord(
        document_key=row["document_key"],
        deal_id=row["deal_id"],
        deal_name=row["deal_name"],
        intent_at=optional_time(row["intent_at"]),
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        field_times=_field_times(row["field_times"]),
    )


def _time(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def _field_times(value: str | bytes | None) -> dict[str, datetime]:
    if value is None:
        return {}
    return {field_id: _time(text) for field_id, text in _json(value).items()}


def optional_time(value: datetime | str | None) -> datetime | None:
    return None if value is None else _time(value)


def _json(value: str | bytes) -> Any:
    return orjson.loads(value)
