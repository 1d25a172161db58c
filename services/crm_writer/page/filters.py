"""The list's filters, read from its query string: which status chip, document, signer e-mail,
dates (days in the viewer's zone), page; and the store query they make.

The chips are what a person tells apart, not the store's statuses one for one: "done" is a
status done that changed RD, "ignored" a status done that did not (outcome ignored), "duplicate"
an event Clicksign delivered more than once (it is done as well).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from math import ceil
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from services.crm_writer.store import EventQuery, EventStatus, StatusCounts

PAGE_SIZE = 25
REFRESH_SECONDS = 10
# Text filters are cut to this: an e-mail or a file name fits, a hostile megabyte does not.
MAX_FILTER_CHARS = 200
# Days outside these years are refused (the day after 9999-12-31 does not exist).
_FIRST_YEAR, _LAST_YEAR = 1970, 9998
CHIPS = ("done", "retrying", "parked", "ignored", "duplicate", "processing", "failed")

_CHIP_QUERIES = {
    "done": EventQuery(status=EventStatus.DONE, ignored=False),
    "ignored": EventQuery(status=EventStatus.DONE, ignored=True),
    "duplicate": EventQuery(duplicated=True),
    "retrying": EventQuery(status=EventStatus.RETRYING),
    "parked": EventQuery(status=EventStatus.PARKED),
    "processing": EventQuery(status=EventStatus.PROCESSING),
    "failed": EventQuery(status=EventStatus.FAILED),
}


@dataclass(frozen=True)
class ListFilters:
    """What the list shows; ``problems`` are the filters that could not be read (message ids
    with the value)."""

    chip: str | None = None
    document: str = ""
    email: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    refresh: bool = False
    problems: tuple[tuple[str, str], ...] = field(default=())

    @property
    def any_filter(self) -> bool:
        return bool(self.chip or self.document or self.email or self.date_from or self.date_to)

    def query(self, zone: ZoneInfo) -> EventQuery:
        """The store query for these filters; the days run midnight to midnight in ``zone``."""
        base = _CHIP_QUERIES.get(self.chip or "", EventQuery())
        return replace(
            base,
            document=self.document or None,
            signer_email=self.email or None,
            since=_midnight(self.date_from, zone) if self.date_from else None,
            until=_midnight(self.date_to + timedelta(days=1), zone) if self.date_to else None,
        )

    def link(self, **changes: object) -> str:
        """The list's URL with these filters, some changed (``page`` goes back to 1 unless
        given)."""
        changed = replace(self, **{"page": 1, **changes})  # type: ignore[arg-type]
        values = {
            "status": changed.chip or "",
            "document": changed.document,
            "email": changed.email,
            "from": changed.date_from.isoformat() if changed.date_from else "",
            "to": changed.date_to.isoformat() if changed.date_to else "",
            "page": str(changed.page) if changed.page > 1 else "",
            "refresh": "1" if changed.refresh else "",
        }
        kept = {name: value for name, value in values.items() if value}
        return "/?" + urlencode(kept) if kept else "/"


def read_filters(query: Mapping[str, str]) -> ListFilters:
    """The filters of the list's query string; what cannot be read is left out and named."""
    problems: list[tuple[str, str]] = []
    chip = query.get("status", "").strip()
    if chip and chip not in CHIPS:
        problems.append(("filter.bad_status", chip[:40]))
    dates = {name: _day(query.get(name, ""), problems) for name in ("from", "to")}
    return ListFilters(
        chip=chip if chip in CHIPS else None,
        document=_text(query.get("document")),
        email=_text(query.get("email")),
        date_from=dates["from"],
        date_to=dates["to"],
        page=_page(query.get("page")),
        refresh=query.get("refresh") == "1",
        problems=tuple(problems),
    )


def chip_count(counts: StatusCounts, chip: str | None) -> int:
    """How many events a chip (None: all of them) shows, from `Store.count_by_status`."""
    if chip is None:
        return counts.total
    if chip == "done":
        return counts.of(EventStatus.DONE) - counts.ignored
    if chip == "ignored":
        return counts.ignored
    if chip == "duplicate":
        return counts.duplicated
    return counts.of(EventStatus(chip))


def page_count(matching: int) -> int:
    return max(1, ceil(matching / PAGE_SIZE))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _text(value: str | None) -> str:
    return (value or "").strip()[:MAX_FILTER_CHARS]


def _day(text: str, problems: list[tuple[str, str]]) -> date | None:
    """A day written as the browsers' date inputs write it (YYYY-MM-DD), in years a history can
    hold; anything else is named in ``problems``."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        problems.append(("filter.bad_date", text[:40]))
        return None
    return day


def _page(text: str | None) -> int:
    if not text or not text.isdigit() or len(text) > 6:
        return 1
    return max(1, int(text))
