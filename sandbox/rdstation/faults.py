"""Fault switches: latency, failing the next N requests, hanging, refusing new deals.

Tests flip them in-process (``rd.faults.fail_next(2, status=503)``); other processes use the
``/__sandbox/faults`` endpoints, which call the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from typing import Any

from sandbox.rdstation.errors import FAULT_STATUSES

API_PREFIX = "/api/v1"
DEFAULT_FAULT_MESSAGE = "Injected by the sandbox"


@dataclass
class FailureRule:
    """Answer the next ``remaining`` matching API requests with ``status``.

    With ``hang_seconds`` the request first hangs (until released or the time is up) and, unless
    ``completes``, then gets ``status`` (504 by default). With ``completes`` the real handler runs
    too, so the change is made although the client saw a failure or gave up waiting.
    """

    remaining: int
    status: int
    method: str | None = None
    path_prefix: str | None = None
    hang_seconds: float | None = None
    completes: bool = False
    retry_after_seconds: int | None = None
    message: str = DEFAULT_FAULT_MESSAGE

    def matches(self, method: str, api_path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path_prefix is None or api_path.startswith(self.path_prefix)

    @property
    def kind(self) -> str:
        return "hang" if self.hang_seconds is not None else f"status_{self.status}"


@dataclass
class DealRejection:
    message: str
    field: str = "base"


class Faults:
    """The switches of one sandbox; all off after `reset`."""

    def __init__(self) -> None:
        self._released = asyncio.Event()
        self.reset()

    def reset(self) -> None:
        self.latency_ms = 0
        self.rules: list[FailureRule] = []
        self.deal_rejection: DealRejection | None = None
        self.release_hangs()

    def set_latency(self, milliseconds: int) -> None:
        """Delay every API answer (not the control API) by ``milliseconds``."""
        if milliseconds < 0:
            raise ValueError("latency must be >= 0 ms")
        self.latency_ms = milliseconds

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        completes: bool = False,
        retry_after_seconds: int | None = None,
        message: str = DEFAULT_FAULT_MESSAGE,
    ) -> FailureRule:
        """Fail the next ``count`` API requests (matching ``method``/``path_prefix`` if given)."""
        if status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {sorted(FAULT_STATUSES)}")
        rule = FailureRule(
            remaining=_positive(count),
            status=status,
            method=method.upper() if method else None,
            path_prefix=_api_path(path_prefix),
            completes=completes,
            retry_after_seconds=retry_after_seconds,
            message=message,
        )
        self.rules.append(rule)
        return rule

    def hang_next(
        self,
        count: int = 1,
        seconds: float = 30.0,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        completes: bool = False,
        status: int = 504,
    ) -> FailureRule:
        """Hold the next ``count`` matching requests for ``seconds`` (a client-side timeout)."""
        rule = self.fail_next(
            count, status, method=method, path_prefix=path_prefix, completes=completes
        )
        rule.hang_seconds = seconds
        return rule

    def reject_deal_creation(self, message: str, field: str = "base") -> None:
        """Answer ``POST /deals`` with 422 ``{"errors": {field: [message]}}`` until cleared."""
        self.deal_rejection = DealRejection(message, field)

    def clear_deal_rejection(self) -> None:
        self.deal_rejection = None

    def take_failure(self, method: str, path: str) -> FailureRule | None:
        """The first armed rule matching this request, with one use spent."""
        api_path = _api_path(path) or "/"
        for rule in self.rules:
            if rule.matches(method, api_path):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.rules.remove(rule)
                return rule
        return None

    async def hang(self, seconds: float) -> None:
        """Wait ``seconds``, or less if `release_hangs` is called (reset, server stop)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._released.wait()

    def release_hangs(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    def snapshot(self) -> dict[str, Any]:
        rejection = asdict(self.deal_rejection) if self.deal_rejection else None
        return {
            "latency_ms": self.latency_ms,
            "fail_next": [asdict(rule) for rule in self.rules],
            "deal_rejection": rejection,
        }


def _positive(count: int) -> int:
    if count < 1:
        raise ValueError("count must be >= 1")
    return count


def _api_path(path: str | None) -> str | None:
    """``/api/v1/deals`` and ``/deals`` both mean the deals resource."""
    if path is None:
        return None
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    return path if path.startswith("/") else f"/{path}"
