"""RD Station CRM failures as values: one exception type per way a call can fail.

RD's v1 error bodies are not uniform (``error`` string, ``errors`` string/object/array, the
misspelled ``RATE_LIMIT_EXCEDDED`` and ``error_MESSAGE``) and its 500s may be HTML, so
`describe_error_body` turns whatever came back into one short human sentence.
"""

from __future__ import annotations

import html
import re
from typing import Any

import orjson

from services.crm_writer.api_errors import ApiError, ApiRateLimited
from shared.logging import redact_text

_MAX_MESSAGE = 500
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class RdStationError(ApiError):
    """Base class; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        super().__init__(redact_text(message))
        self.message = redact_text(message)
        self.status = status
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.status} on {self.path})" if self.status and self.path else ""
        return f"{self.message}{where}"


class RdStationUnavailable(RdStationError):
    """5xx, timeouts, connection errors: RD or the network is having a bad moment."""

    retryable = True


class RdStationRateLimited(RdStationError, ApiRateLimited):
    """429: the token's request budget is spent; ``retry_after`` seconds when RD says so."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RdStationUnauthorized(RdStationError):
    """401: the token is wrong or disabled. Retried, since an operator can fix the token without
    losing events; parked once the retry budget is spent."""

    retryable = True


class RdStationRejected(RdStationError):
    """400/422 and other 4xx: RD refused the data. Retrying the same request cannot help.

    ``fields`` names the fields a validation answer (``{"errors": {"name": [...]}}``) refused."""

    def __init__(
        self,
        message: str,
        *,
        fields: tuple[str, ...] = (),
        status: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, status=status, path=path)
        self.fields = fields


class RdStationForbidden(RdStationRejected):
    """403: the token's user may not do this (permission, visibility or plan): a configuration
    problem an operator must fix, so the event parks at once with the reason."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}: the RD Station user of RDSTATION_CRM_TOKEN is not allowed to "
            "do this; check the user's permissions and plan in RD Station, then replay"
        )


class RdStationNotFound(RdStationRejected):
    """404: the resource does not exist, or the token's user cannot see it."""


def describe_error_body(body: bytes, content_type: str | None) -> str:
    """RD's error answer as one sentence, whatever its shape."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "empty answer"
    if (content_type and "json" in content_type) or text[:1] in "{[":
        try:
            return _truncate(_describe_json(orjson.loads(text)))
        except orjson.JSONDecodeError:
            pass
    return _truncate(_SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip() or "empty answer")


def rejected_fields(body: bytes) -> tuple[str, ...]:
    """The fields a validation answer names: the keys of ``{"errors": {<field>: [...]}}``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ()
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, dict):
        return ()
    return tuple(str(key) for key in errors if not str(key).lower().startswith("error_"))


def error_for_status(
    status: int,
    message: str,
    path: str,
    retry_after: float | None = None,
    fields: tuple[str, ...] = (),
) -> RdStationError:
    """The exception that an HTTP status from RD means."""
    if status == 429:
        return RdStationRateLimited(message, retry_after=retry_after, status=status, path=path)
    if status == 401:
        return RdStationUnauthorized(message, status=status, path=path)
    if status == 403:
        return RdStationForbidden(message, status=status, path=path)
    if status == 404:
        return RdStationNotFound(message, status=status, path=path)
    if status >= 500 or status in (408, 425):
        return RdStationUnavailable(message, status=status, path=path)
    return RdStationRejected(message, fields=fields, status=status, path=path)


def _describe_json(payload: Any) -> str:
    if isinstance(payload, dict):
        if "errors" in payload:
            return _describe_errors(payload["errors"])
        if "error" in payload:
            return _describe_errors(payload["error"])
        if "message" in payload:
            return str(payload["message"])
    return _describe_errors(payload)


def _describe_errors(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(_describe_errors(item) for item in errors) or "error"
    if isinstance(errors, dict):
        message = _message_of(errors)
        if message:
            return message
        parts = [f"{field}: {_describe_errors(value)}" for field, value in errors.items()]
        return "; ".join(parts) or "error"
    return str(errors)


def _message_of(entry: dict[str, Any]) -> str | None:
    for key, value in entry.items():
        if key.lower() == "error_message" and value:
            kind = entry.get("error_type")
            return f"{kind}: {value}" if kind else str(value)
    return None


def _truncate(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
