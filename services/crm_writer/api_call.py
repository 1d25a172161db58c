"""`ApiCall`: one request to an outside API (RD Station, Clicksign) as the event's history shows it.

Both clients record their requests the same way, so the history page, the JSON API and the CLI
read one shape; ``api`` names the API for calls that are not RD's (RD's entries carry no ``api``,
as they always have).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.logging import redact_value


@dataclass
class ApiCall:
    """One request as the history shows it (never with a token)."""

    method: str
    path: str
    query: dict[str, str]
    request: Any
    status: int | None = None
    response: Any = None
    duration_ms: float = 0.0
    error: str | None = None
    api: str | None = None

    def as_history(self) -> dict[str, Any]:
        entry = {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "request": self.request,
            "status": self.status,
            "response": self.response,
            "duration_ms": round(self.duration_ms, 1),
            "error": self.error,
        }
        if self.api is not None:
            entry["api"] = self.api
        history: dict[str, Any] = redact_value(entry)
        return history
