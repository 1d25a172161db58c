"""What every command prints with: exit codes, errors as values, tables, JSON, times."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_ELLIPSIS = "…"


class CliError(Exception):
    """A command cannot go on; ``code`` is the exit status (1 failed/not found, 2 usage/config)."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def can_print(text: str) -> bool:
    """Whether stdout's encoding can show ``text`` (✓ and ✗ on a Latin-1 terminal cannot)."""
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def print_json(value: Any) -> None:
    """Indented JSON on stdout; datetimes as ISO 8601, enums as their values."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    print(orjson.dumps(value, option=options).decode())


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: what `print_json` would print, read back."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def clip(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + _ELLIPSIS


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60
) -> str:
    """Left-aligned columns separated by two spaces; cells are clipped to ``max_width``."""
    cells = [[clip(_cell(value), max_width) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = [_line(headers, widths)]
    lines.extend(_line(row, widths) for row in cells)
    return "\n".join(lines)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str = "(none)"
) -> None:
    if not rows:
        print(empty)
        return
    print(render_table(headers, rows))


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 value from the store or the history API, as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def show_time(value: object) -> str:
    """``2025-03-04 17:05:09+00:00`` for a table or a detail line: UTC, with its offset, so that
    nobody reads it as local time; ``-`` when unknown."""
    moment = parse_time(value)
    return moment.isoformat(sep=" ", timespec="seconds") if moment else "-"


def show_duration(milliseconds: object) -> str:
    if not isinstance(milliseconds, int | float):
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    return f"{milliseconds / 1000:.1f} s"
