"""What a person may ask of the history, read the same way by the HTTP API and the CLI: a status,
and a moment ("since") given as ISO 8601 or as a duration back from now."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from services.crm_writer.store import EventStatus

_RELATIVE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_status(text: str | None) -> EventStatus | None:
    """An `EventStatus` by name; ValueError listing the names otherwise."""
    if not text:
        return None
    try:
        return EventStatus(text)
    except ValueError:
        choices = ", ".join(status.value for status in EventStatus)
        raise ValueError(f"status must be one of {choices}") from None


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``1h``, ``2d``, ``1w`` ago, or an ISO 8601 moment (without offset: UTC), in UTC;
    ValueError for anything else, a moment the calendar cannot hold in UTC included."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text)
    try:
        if relative:
            amount, unit = int(relative.group(1)), relative.group(2)
            return now - timedelta(**{_UNITS[unit]: amount})
        moment = datetime.fromisoformat(text.strip())
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text[:40]!r} is neither a duration like 30m, 1h, 2d nor an ISO 8601 time"
        ) from None
