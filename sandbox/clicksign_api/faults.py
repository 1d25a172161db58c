"""Fault switches for the sandbox's Clicksign API: fail the next N requests with a status.

Tests flip them in-process (``server.clicksign.faults.fail_next(1, 503)``); other processes use
``POST /__sandbox/clicksign/faults/fail_next``, which calls the same method.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FAULT_STATUSES = frozenset({400, 401, 403, 404, 429, 500, 502, 503, 504})


@dataclass
class FailureRule:
    """Answer the next ``remaining`` API requests under ``path_prefix`` (all if None) with
    ``status``; a 429 says the budget resets in ``retry_after_seconds``."""

    remaining: int
    status: int
    path_prefix: str | None = None
    retry_after_seconds: int = 10

    def matches(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)


class Faults:
    """The switches; all off after `reset`."""

    def __init__(self) -> None:
        self.rules: list[FailureRule] = []

    def reset(self) -> None:
        self.rules = []

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        path_prefix: str | None = None,
        retry_after_seconds: int = 10,
    ) -> FailureRule:
        if status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {sorted(FAULT_STATUSES)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        rule = FailureRule(count, status, path_prefix, retry_after_seconds)
        self.rules.append(rule)
        return rule

    def take_failure(self, path: str) -> FailureRule | None:
        """The first rule matching this request, with one use spent."""
        for rule in self.rules:
            if rule.matches(path):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.rules.remove(rule)
                return rule
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"fail_next": [asdict(rule) for rule in self.rules]}
