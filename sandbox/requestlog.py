"""What clients asked the sandbox (RD's API or Clicksign's), without the token: for assertions
and for humans."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    query: dict[str, str]
    at: str
    body: Any = None
    status: int | None = None
    duration_ms: float | None = None
    fault: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """The last ``size`` API requests, oldest first."""

    def __init__(self, size: int) -> None:
        self._records: deque[RecordedRequest] = deque(maxlen=size)
        self._seq = 0

    def start(
        self, method: str, path: str, query: dict[str, str], at: str, body: Any
    ) -> RecordedRequest:
        self._seq += 1
        record = RecordedRequest(self._seq, method, path, query, at, body)
        self._records.append(record)
        return record

    @property
    def records(self) -> list[RecordedRequest]:
        return list(self._records)

    def matching(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[RecordedRequest]:
        return [
            record
            for record in self._records
            if (method is None or record.method == method.upper())
            and (path_prefix is None or record.path.startswith(path_prefix))
        ]

    def clear(self) -> None:
        self._records.clear()
        self._seq = 0


def without_token(query: Any) -> dict[str, str]:
    """The query string as a dict, ``token`` left out (last value wins for repeated keys)."""
    return {str(key): str(value) for key, value in query.items() if key != "token"}
