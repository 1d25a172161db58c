"""Clicksign API failures as values: one exception type per way a call can fail.

They are `ApiError`s like RD's, so the retry policy reads both the same way: an outage is tried
again later, a 429 (`ApiRateLimited`) waits for Clicksign's window without counting an attempt, a
refused token parks the event (an operator must fix ``CLICKSIGN_ACCESS_TOKEN``, then replay); an
unknown document is not a failure of the event at all: the pipeline goes on with what the webhook
carried and says so in the history.

Clicksign answers errors as ``{"errors": ["…"]}`` (API 1.0) or JSON:API
``{"errors": [{"title", "detail", …}]}`` (API 3.0); `describe_error_body` turns either into one
sentence. Sources: ``docs/clicksign.md``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from services.crm_writer.api_errors import ApiError, ApiRateLimited
from shared.logging import redact_text

_MAX_MESSAGE = 300


class ClicksignError(ApiError):
    """Base class; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        self.message = redact_text(message)
        super().__init__(self.message)
        self.status = status
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.status} on {self.path})" if self.status and self.path else ""
        return f"Clicksign API: {self.message}{where}"


class ClicksignUnavailable(ClicksignError):
    """5xx, timeouts, connection errors: Clicksign or the network is having a bad moment."""

    retryable = True


class ClicksignRateLimited(ClicksignError, ApiRateLimited):
    """429: the account's request budget is spent; ``retry_after`` seconds until it resets."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ClicksignUnauthorized(ClicksignError):
    """401/403: the token is wrong, revoked, or its account has no API. Not retried: the event
    parks with this reason until an operator fixes ``CLICKSIGN_ACCESS_TOKEN`` and replays it."""

    def __str__(self) -> str:
        where = f" ({self.status} on {self.path})" if self.status and self.path else ""
        return f"Clicksign token refused: {self.message}{where}"


class ClicksignNotFound(ClicksignError):
    """404: Clicksign does not know the document (or the token's account cannot see it)."""


class ClicksignRejected(ClicksignError):
    """Any other 4xx, or an answer that is not the JSON expected: trying again cannot help."""


def error_for_status(
    status: int, message: str, path: str, retry_after: float | None = None
) -> ClicksignError:
    """The exception an HTTP status from Clicksign means."""
    if status == 429:
        return ClicksignRateLimited(message, retry_after=retry_after, status=status, path=path)
    if status in (401, 403):
        return ClicksignUnauthorized(message, status=status, path=path)
    if status == 404:
        return ClicksignNotFound(message, status=status, path=path)
    if status >= 500 or status in (408, 425):
        return ClicksignUnavailable(message, status=status, path=path)
    return ClicksignRejected(message, status=status, path=path)


def describe_error_body(body: bytes) -> str:
    """Clicksign's error answer as one short sentence, whatever its shape."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "empty answer"
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _truncate(" ".join(text.split()))
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if isinstance(errors, list) and errors:
        return _truncate("; ".join(_describe_one(item) for item in errors))
    return _truncate(" ".join(text.split()))


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Seconds until the budget resets: ``Retry-After`` if sent, else ``X-Rate-Limit-Reset``
    (Clicksign's header: the reset moment as Unix time)."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            pass
    reset = headers.get("X-Rate-Limit-Reset")
    if reset:
        try:
            return max(float(reset) - (time.time() if now is None else now), 0.0)
        except ValueError:
            return None
    return None


def _describe_one(item: Any) -> str:
    if isinstance(item, dict):
        parts = [str(item[key]) for key in ("title", "detail") if item.get(key)]
        return ": ".join(parts) or str(item.get("code") or "error")
    return str(item)


def _truncate(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
