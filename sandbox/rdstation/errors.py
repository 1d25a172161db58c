"""The answers RD gives instead of a resource, one exception type per kind.

RD v1 error bodies are deliberately not uniform (``error`` string, ``errors`` string or object, the
misspelled ``RATE_LIMIT_EXCEDDED``, HTML 500s); each type here reproduces one of them, and
`ApiError.to_response` is the only place they become HTTP answers.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

TECHNICAL_PROBLEMS_HTML = (
    "<html><head><title>RD Station CRM</title></head><body>"
    "<p>Problemas técnicos. Nossa equipe já foi notificada, tente novamente em instantes.</p>"
    "</body></html>"
)
_GATEWAY_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Time-out",
}


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def html_response(text: str, status: int) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


class ApiError(Exception):
    """Raised anywhere under ``/api/v1``; the error middleware answers with `to_response`."""

    status = 500

    def to_response(self) -> web.Response:
        return json_response(self.body(), self.status)

    def body(self) -> Any:
        return {"errors": str(self)}


class BadRequest(ApiError):
    """400 with ``{"errors": "<sentence>"}``, e.g. an unknown custom field id."""

    status = 400


class Unauthorized(ApiError):
    status = 401

    def body(self) -> Any:
        return {"error": "Permission denied."}


class Forbidden(ApiError):
    status = 403

    def body(self) -> Any:
        return {"error": "forbidden"}


class ResourceNotFound(ApiError):
    status = 404

    def __init__(self, message: str = "Lead not found.") -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> Any:
        return {"errors": {"error_type": "RESOURCE_NOT_FOUND", "error_message": self.message}}


class ValidationFailed(ApiError):
    """422 with ``{"errors": {"<field>": [<messages>]}}``."""

    status = 422

    def __init__(self, errors: dict[str, list[Any]]) -> None:
        super().__init__(f"invalid fields: {', '.join(errors)}")
        self.errors = errors

    def body(self) -> Any:
        return {"errors": self.errors}


class RateLimited(ApiError):
    status = 429

    def __init__(self, retry_after_seconds: int | None = None) -> None:
        super().__init__("API usage limit exceeded")
        self.retry_after_seconds = retry_after_seconds

    def body(self) -> Any:
        return {
            "errors": {
                "error_type": "RATE_LIMIT_EXCEDDED",
                "error_message": "API usage limit exceeded",
            }
        }

    def to_response(self) -> web.Response:
        headers = None
        if self.retry_after_seconds is not None:
            headers = {"Retry-After": str(self.retry_after_seconds)}
        return json_response(self.body(), self.status, headers)


class TechnicalProblems(ApiError):
    """500 as RD sends it: an HTML page, not JSON."""

    def to_response(self) -> web.Response:
        return html_response(TECHNICAL_PROBLEMS_HTML, 500)


class GatewayFailure(ApiError):
    """502/503/504 from the load balancer in front of RD: HTML, no RD body at all."""

    def __init__(self, status: int) -> None:
        super().__init__(_GATEWAY_TITLES[status])
        self.status = status

    def to_response(self) -> web.Response:
        title = _GATEWAY_TITLES[self.status]
        page = (
            f"<html><head><title>{title}</title></head>"
            f"<body><center><h1>{title}</h1></center></body></html>"
        )
        return html_response(page, self.status)


FAULT_STATUSES = frozenset({400, 401, 403, 404, 422, 429, 500, 502, 503, 504})


def error_for_status(status: int, message: str, retry_after_seconds: int | None = None) -> ApiError:
    """The RD-shaped error a fault switch answers with for ``status`` (one of FAULT_STATUSES)."""
    if status == 429:
        return RateLimited(retry_after_seconds)
    if status == 500:
        return TechnicalProblems(message)
    if status in _GATEWAY_TITLES:
        return GatewayFailure(status)
    if status == 401:
        return Unauthorized(message)
    if status == 404:
        return ResourceNotFound(message)
    if status == 422:
        return ValidationFailed({"base": [message]})
    if status == 403:
        return Forbidden(message)
    return BadRequest(message)
