"""`RdStationClient`: the RD Station CRM v1 API over aiohttp, token redacted everywhere.

The v1 token travels in the query string, so nothing here ever logs or raises a URL: calls are
described by method and path, and every call is recorded (request, answer, timing) for the
event's history when the caller asks for a recording view.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

from services.crm_writer.api_call import ApiCall
from services.crm_writer.observer import NullObserver, RdObserver
from services.crm_writer.pacing import RequestPacer
from services.crm_writer.rdstation.errors import (
    RdStationError,
    RdStationRateLimited,
    RdStationUnavailable,
    describe_error_body,
    error_for_status,
    rejected_fields,
)
from shared import tracing
from shared.logging import get_logger

# RD v1 sends no Retry-After; its budget is per minute, so a 429 frees up within one.
DEFAULT_PAUSE_AFTER_429 = 10.0
# How long one request waits in place for rate-limit windows before the event goes to a retry
# tier instead (a 429 is not a failure: see services/crm_writer/retry_policy.py).
RATE_LIMIT_PATIENCE_SECONDS = 60.0
_MAX_RECORDED_TEXT = 2000
# Path segments of the RD v1 API that are names, not ids; any other segment is an id.
_ENDPOINT_WORDS = frozenset(
    {
        "token", "check", "contacts", "deals", "deal_pipelines", "deal_stages", "users",
        "custom_fields", "organizations", "products", "tasks", "activities",
    }
)  # fmt: skip

log = get_logger()


# RD's calls are plain `ApiCall`s: the name stays for the code that records them.
RdCall = ApiCall


@dataclass
class RdStationClient:
    """Calls RD Station CRM v1. Share one instance; use `recording` for a per-event call log."""

    session: aiohttp.ClientSession
    base_url: str
    token: str
    limiter: RequestPacer
    timeout_seconds: float = 15.0
    calls: list[RdCall] | None = field(default=None, repr=False)
    observer: RdObserver = field(default_factory=NullObserver, repr=False)

    def recording(self, calls: list[RdCall]) -> RdStationClient:
        """A view of this client that appends every call it makes to ``calls``."""
        return RdStationClient(
            self.session,
            self.base_url,
            self.token,
            self.limiter,
            self.timeout_seconds,
            calls,
            self.observer,
        )

    # -- account and configuration ------------------------------------------------------------

    async def check_token(self) -> dict[str, Any]:
        return await self._json_object("GET", "/token/check")

    async def list_pipelines(self) -> list[dict[str, Any]]:
        return _items(await self._request("GET", "/deal_pipelines"), "deal_pipelines")

    async def list_stages(self, pipeline_id: str | None = None) -> list[dict[str, Any]]:
        params = {"deal_pipeline_id": pipeline_id} if pipeline_id else {}
        return _items(await self._request("GET", "/deal_stages", params=params), "deal_stages")

    async def get_stage(self, stage_id: str) -> dict[str, Any]:
        return await self._json_object("GET", f"/deal_stages/{stage_id}")

    async def list_users(self) -> list[dict[str, Any]]:
        return _items(await self._request("GET", "/users"), "users")

    async def list_custom_fields(self, for_: str | None = None) -> list[dict[str, Any]]:
        params = {"for": for_} if for_ else {}
        return _items(await self._request("GET", "/custom_fields", params=params), "custom_fields")

    # -- contacts -----------------------------------------------------------------------------

    async def find_contacts_by_email(self, email: str) -> list[dict[str, Any]]:
        answer = await self._request("GET", "/contacts", params={"email": email, "limit": "200"})
        return _items(answer, "contacts")

    async def create_contact(self, contact: dict[str, Any]) -> dict[str, Any]:
        return await self._json_object("POST", "/contacts", body={"contact": contact})

    async def get_contact(self, contact_id: str) -> dict[str, Any]:
        return await self._json_object("GET", f"/contacts/{contact_id}")

    async def update_contact(self, contact_id: str, contact: dict[str, Any]) -> dict[str, Any]:
        return await self._json_object("PUT", f"/contacts/{contact_id}", body={"contact": contact})

    # -- deals --------------------------------------------------------------------------------

    async def find_deals_by_name(self, name: str) -> list[dict[str, Any]]:
        params = {"name": name, "exact_name": "true", "limit": "200"}
        return _items(await self._request("GET", "/deals", params=params), "deals")

    async def create_deal(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._json_object("POST", "/deals", body=body)

    async def get_deal(self, deal_id: str) -> dict[str, Any]:
        return await self._json_object("GET", f"/deals/{deal_id}")

    async def update_deal(self, deal_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._json_object("PUT", f"/deals/{deal_id}", body=body)

    async def list_deal_contacts(self, deal_id: str) -> list[dict[str, Any]]:
        answer = await self._request("GET", f"/deals/{deal_id}/contacts", params={"limit": "200"})
        return _items(answer, "contacts")

    # -- transport ----------------------------------------------------------------------------

    async def _json_object(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        answer = await self._request(method, path, body=body)
        if not isinstance(answer, dict):
            raise RdStationUnavailable("unexpected answer shape", status=200, path=path)
        return answer

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """One request, sent again after a 429 once the limiter's pause is over, for up to
        `RATE_LIMIT_PATIENCE_SECONDS` of pauses; then the 429 is raised."""
        paused = 0.0
        while True:
            try:
                return await self._send_recorded(method, path, params=params, body=body)
            except RdStationRateLimited as exc:
                pause = exc.retry_after or DEFAULT_PAUSE_AFTER_429
                if paused + pause > RATE_LIMIT_PATIENCE_SECONDS:
                    raise
                paused += pause
                log.info("rd.rate_limited", path=path, pause_seconds=pause)

    async def _send_recorded(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
    ) -> Any:
        call = RdCall(method, path, dict(params or {}), body)
        if self.calls is not None:
            self.calls.append(call)
        self.observer.rate_limit_waited(await self.limiter.acquire())
        started = time.monotonic()
        template = endpoint_template(call.path)
        with tracing.client_span(call.method, template, self.base_url) as span:
            try:
                status, payload = await self._send(call)
            except RdStationError as exc:
                call.error = str(exc)
                raise
            finally:
                call.duration_ms = (time.monotonic() - started) * 1000
                tracing.record_http_status(span, call.status, error_from=400)
                # An answer or a failure RD caused; a cancelled call (shutdown) is neither.
                if call.status is not None or call.error is not None:
                    self.observer.rd_request(
                        call.method, template, call.status, call.duration_ms / 1000
                    )
        call.response = payload
        log.debug("rd.call", method=method, path=path, status=status, duration_ms=call.duration_ms)
        return payload

    async def _send(self, call: RdCall) -> tuple[int, Any]:
        url = self.base_url.rstrip("/") + call.path
        data = orjson.dumps(call.request) if call.request is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                call.method,
                url,
                params={**call.query, "token": self.token},
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            ) as response:
                raw = await response.read()
                content_type = response.headers.get("Content-Type")
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                status = call.status = response.status
        except TimeoutError:
            raise RdStationUnavailable(
                f"no answer within {self.timeout_seconds:g}s", path=call.path
            ) from None
        except aiohttp.ClientError as exc:
            raise RdStationUnavailable(
                f"connection failed: {type(exc).__name__}: {exc}", path=call.path
            ) from None
        if status >= 400:
            call.status, call.response = status, _recordable(raw, content_type)
            error = error_for_status(
                status,
                describe_error_body(raw, content_type),
                call.path,
                retry_after,
                rejected_fields(raw),
            )
            if isinstance(error, RdStationRateLimited):
                self.limiter.pause(retry_after or DEFAULT_PAUSE_AFTER_429)
            raise error
        return status, _decode(raw, call.path, status)


def endpoint_template(path: str) -> str:
    """``/deals/64f…/contacts`` → ``/deals/{id}/contacts``: ids out, so metric labels stay few."""
    segments = path.strip("/").split("/")
    return "/" + "/".join(part if part in _ENDPOINT_WORDS else "{id}" for part in segments)


def _decode(raw: bytes, path: str, status: int) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RdStationUnavailable("answer is not JSON", status=status, path=path) from None


def _recordable(raw: bytes, content_type: str | None) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace")
        return text[:_MAX_RECORDED_TEXT]


def _items(answer: Any, key: str) -> list[dict[str, Any]]:
    """RD v1 lists come bare (`/deal_pipelines`, `/custom_fields`) or wrapped (`{"deals": []}`)."""
    if isinstance(answer, dict):
        answer = answer.get(key, [])
    if not isinstance(answer, list):
        return []
    return [item for item in answer if isinstance(item, dict)]


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)
