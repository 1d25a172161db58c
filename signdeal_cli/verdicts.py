"""The result of one ``signdeal check`` item, and how a list of them is shown."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from signdeal_cli.console import can_print, render_table


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


_MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-"}
_ASCII_MARKS = {Status.OK: "OK", Status.WARN: "!", Status.FAIL: "FAIL", Status.SKIP: "-"}


@dataclass(frozen=True)
class Verdict:
    """One checked item: ``check`` names it, ``detail`` says what was found or why it fails."""

    check: str
    status: Status
    detail: str

    @classmethod
    def ok(cls, check: str, detail: str) -> Verdict:
        return cls(check, Status.OK, detail)

    @classmethod
    def warn(cls, check: str, detail: str) -> Verdict:
        return cls(check, Status.WARN, detail)

    @classmethod
    def fail(cls, check: str, detail: str) -> Verdict:
        return cls(check, Status.FAIL, detail)

    @classmethod
    def skip(cls, check: str, detail: str) -> Verdict:
        return cls(check, Status.SKIP, detail)


def mark(status: Status) -> str:
    symbol = _MARKS[status]
    return symbol if can_print(symbol) else _ASCII_MARKS[status]


def render_verdicts(verdicts: list[Verdict]) -> str:
    rows = [(mark(v.status), v.check, v.detail) for v in verdicts]
    return render_table(("", "CHECK", "RESULT"), rows, max_width=400)
