"""`ClicksignClient`: reads a document from Clicksign's API over aiohttp, token redacted everywhere.

Two APIs answer under the same base URL with the same token (Clicksign's own collections test one
token against both): API 1.0 reads a document by the key every webhook carries
(``GET /api/v1/documents/{key}?access_token=…``); API 3.0 (envelopes, accounts created since
2024-07-01) reads a document only inside its envelope, and the webhook carries no envelope id. So:

- API 1.0 is asked first: one request, and the document the webhooks describe.
- API 3.0 next (or first, once it has answered for this account): the envelope is looked up by
  the name the webhook's path starts with (``/<envelope name>/<file>``), else among the envelopes
  modified around the event's time; its document and signers are then read.

Whichever answered is remembered and asked first next time, so guessing wrong costs one request.
The v1 token travels in the query string: nothing here logs or raises a URL; every call is
recorded for the event's history (method, path, query without the token, answer, timing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

import aiohttp
import orjson

from services.crm_writer.api_call import ApiCall
from services.crm_writer.clicksign.documents import (
    API_1,
    API_3,
    ClicksignDocument,
    UnexpectedAnswer,
    account_name,
    document_from_v1,
    document_from_v3,
    resources,
)
from services.crm_writer.clicksign.errors import (
    ClicksignError,
    ClicksignNotFound,
    ClicksignRateLimited,
    ClicksignRejected,
    ClicksignUnauthorized,
    ClicksignUnavailable,
    describe_error_body,
    error_for_status,
    retry_after_seconds,
)
from services.crm_writer.pacing import RequestPacer
from shared import tracing
from shared.events import parse_timestamp
from shared.logging import get_logger

API_NAME = "clicksign"
# Clicksign's budget window: after a 429 without a usable reset time, wait one window.
DEFAULT_PAUSE_AFTER_429 = 10.0
# How long one request waits in place for rate-limit windows before the 429 goes to the retry
# policy, which then waits in a tier without counting an attempt (as RD's client does).
RATE_LIMIT_PATIENCE_SECONDS = 60.0
# How far around the event's time an envelope's last change is looked for, and how many of the
# envelopes found are opened: a wrong guess costs at most this many requests.
ENVELOPE_WINDOW = timedelta(minutes=10)
MAX_ENVELOPES_OPENED = 5
_JSON_API = "application/vnd.api+json"
# Path segments of Clicksign's API that are names, not keys; any other segment is a key.
_ENDPOINT_WORDS = frozenset({"api", "v1", "v3", "documents", "accounts", "envelopes", "signers"})

log = get_logger()


@dataclass
class ApiVersionMemory:
    """Which API last found a document for this account: asked first next time."""

    preferred: str | None = None

    def order(self) -> tuple[str, str]:
        return (API_3, API_1) if self.preferred == API_3 else (API_1, API_3)


@dataclass(frozen=True)
class TokenCheck:
    """What each API said to the token: ``None`` accepted it, else the error."""

    account: str | None
    api_1: ClicksignError | None
    api_3: ClicksignError | None

    @property
    def accepted_by(self) -> list[str]:
        return [api for api, error in ((API_1, self.api_1), (API_3, self.api_3)) if error is None]


@dataclass
class ClicksignClient:
    """Reads Clicksign documents. Share one instance; use `recording` for a per-event call log."""

    session: aiohttp.ClientSession
    base_url: str
    token: str
    limiter: RequestPacer
    timeout_seconds: float = 15.0
    calls: list[ApiCall] | None = field(default=None, repr=False)
    memory: ApiVersionMemory = field(default_factory=ApiVersionMemory, repr=False)

    def recording(self, calls: list[ApiCall]) -> ClicksignClient:
        """A view of this client that appends every call it makes to ``calls``."""
        return replace(self, calls=calls)

    # -- the document of a webhook ---------------------------------------------------------------

    async def fetch_document(
        self, key: str, *, path: str | None = None, occurred_at: str | None = None
    ) -> ClicksignDocument:
        """The document ``key`` as Clicksign's API says it, from whichever API knows it.

        Raises `ClicksignNotFound` when an API that takes the token does not know it,
        `ClicksignUnauthorized` when no API took the token (each refused it, or API 1.0 refused
        it and API 3.0 is not available to the account), and the retryable errors as they come.
        """
        misses: list[str] = []
        refusals: list[ClicksignUnauthorized] = []
        # API 3.0's 503 for an account without envelopes: no answer about the token either way.
        unavailable: list[str] = []
        for api in self.memory.order():
            try:
                if api == API_1:
                    document = await self.read_document_v1(key)
                else:
                    document = await self.find_document_v3(key, path=path, occurred_at=occurred_at)
            except ClicksignUnauthorized as exc:
                refusals.append(exc)
                continue
            except ClicksignNotFound as exc:
                misses.append(f"API {api}: {exc.message}")
                continue
            except ClicksignUnavailable as exc:
                # A 503 from API 3.0 right after API 1.0 answered is Clicksign's "Serviço
                # indisponível" for an account without envelopes, not an outage.
                if api == API_3 and exc.status == 503 and (misses or refusals):
                    unavailable.append("API 3.0: not available to this account (503)")
                    continue
                raise
            if self.memory.preferred != api:
                log.info("clicksign.api_version", api=api)
            self.memory.preferred = api
            return document
        if refusals and not misses:
            # Going on without the document would write a deal that may lack its contacts; the
            # event parks until the token is fixed and it is replayed.
            raise refusals[0]
        misses += unavailable
        misses += [f"API {_api_of(refusal)}: token refused" for refusal in refusals]
        raise ClicksignNotFound("; ".join(misses))

    async def read_document_v1(self, key: str) -> ClicksignDocument:
        path = f"/api/v1/documents/{key}"
        answer = await self._request(API_1, path)
        try:
            return document_from_v1(answer)
        except UnexpectedAnswer as exc:
            raise _unexpected(exc, path) from None

    async def find_document_v3(
        self, key: str, *, path: str | None, occurred_at: str | None
    ) -> ClicksignDocument:
        """The envelope holding document ``key``, found by name or by time, then the document."""
        name = envelope_name(path)
        if name is not None:
            params, how = {"filter[name]": name}, f"named {name!r}"
        elif (window := modified_window(occurred_at)) is not None:
            params, how = {"filter[modified]": window}, "changed around the event's time"
        else:
            raise ClicksignNotFound(
                "API 3.0 reads a document inside its envelope, and the webhook carries neither "
                "a path naming the envelope nor a time to look it up by"
            )
        listing = await self._request(API_3, "/api/v3/envelopes", params)
        try:
            envelope_ids = [item["id"] for item in resources(listing)]
        except UnexpectedAnswer as exc:
            raise _unexpected(exc, "/api/v3/envelopes") from None
        for envelope_id in envelope_ids[:MAX_ENVELOPES_OPENED]:
            document_path = f"/api/v3/envelopes/{envelope_id}/documents/{key}"
            try:
                document = await self._request(API_3, document_path)
            except ClicksignNotFound:
                continue
            signers = await self._request(API_3, f"/api/v3/envelopes/{envelope_id}/signers")
            try:
                return document_from_v3(envelope_id, document, signers)
            except UnexpectedAnswer as exc:
                raise _unexpected(exc, document_path) from None
        raise ClicksignNotFound(f"no envelope {how} holds document {key}")

    # -- the token -------------------------------------------------------------------------------

    async def check_token(self) -> TokenCheck:
        """Ask both APIs whether they take the token (``GET /api/v1/accounts`` and
        ``GET /api/v3/envelopes``, Clicksign's own authentication tests)."""
        account: str | None = None
        api_1: ClicksignError | None = None
        api_3: ClicksignError | None = None
        try:
            account = account_name(await self._request(API_1, "/api/v1/accounts"))
        except (ClicksignUnauthorized, ClicksignNotFound, ClicksignRejected) as exc:
            api_1 = exc
        try:
            await self._request(API_3, "/api/v3/envelopes", {"page[size]": "1"})
        except (ClicksignUnauthorized, ClicksignNotFound, ClicksignRejected) as exc:
            api_3 = exc
        except ClicksignUnavailable as exc:
            if exc.status != 503:
                raise
            api_3 = exc
        return TokenCheck(account, api_1, api_3)

    # -- transport -------------------------------------------------------------------------------

    async def _request(self, api: str, path: str, params: dict[str, str] | None = None) -> Any:
        """One request, sent again after a 429 once the limiter's pause is over, for up to
        `RATE_LIMIT_PATIENCE_SECONDS` of pauses; then the 429 is raised."""
        paused = 0.0
        while True:
            try:
                return await self._send_recorded(api, path, params)
            except ClicksignRateLimited as exc:
                pause = _pause_after(exc.retry_after)
                if paused + pause > RATE_LIMIT_PATIENCE_SECONDS:
                    raise
                paused += pause
                log.info(
                    "clicksign.rate_limited", path=endpoint_template(path), pause_seconds=pause
                )

    async def _send_recorded(self, api: str, path: str, params: dict[str, str] | None) -> Any:
        call = ApiCall("GET", path, dict(params or {}), None, api=API_NAME)
        if self.calls is not None:
            self.calls.append(call)
        await self.limiter.acquire()
        started = time.monotonic()
        template = endpoint_template(path)
        with tracing.client_span(call.method, template, self.base_url) as span:
            try:
                payload = await self._send(api, call)
            except ClicksignError as exc:
                call.error = str(exc)
                raise
            finally:
                call.duration_ms = (time.monotonic() - started) * 1000
                tracing.record_http_status(span, call.status, error_from=400)
        call.response = payload
        log.debug(
            "clicksign.call",
            path=template,
            api=api,
            status=call.status,
            duration_ms=call.duration_ms,
        )
        return payload

    async def _send(self, api: str, call: ApiCall) -> Any:
        url = self.base_url.rstrip("/") + call.path
        params = dict(call.query)
        if api == API_1:
            params["access_token"] = self.token
            headers = {"Accept": "application/json"}
        else:
            # API 3.0: the bare token, no "Bearer" (Clicksign's docs; "Bearer" answers 401).
            headers = {"Accept": _JSON_API, "Authorization": self.token}
        try:
            async with self.session.get(
                url,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            ) as response:
                raw = await response.read()
                call.status = response.status
                retry_after = retry_after_seconds(response.headers)
        except TimeoutError:
            raise ClicksignUnavailable(
                f"no answer within {self.timeout_seconds:g}s", path=call.path
            ) from None
        except aiohttp.ClientError as exc:
            raise ClicksignUnavailable(
                f"connection failed: {type(exc).__name__}: {exc}", path=call.path
            ) from None
        if call.status >= 400:
            call.response = _recordable(raw)
            error = error_for_status(call.status, describe_error_body(raw), call.path, retry_after)
            if isinstance(error, ClicksignRateLimited):
                self.limiter.pause(_pause_after(retry_after))
            raise error
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ClicksignUnavailable(
                "answer is not JSON", status=call.status, path=call.path
            ) from None


def envelope_name(path: str | None) -> str | None:
    """The envelope an API 3.0 document sits in, from the webhook's ``/<envelope>/<file>``."""
    if not path:
        return None
    folder = PurePosixPath(path).parent.name
    return folder or None


def modified_window(occurred_at: str | None) -> str | None:
    """``filter[modified]`` around the event (``start,end``, ISO 8601, as Clicksign's own
    collection writes it)."""
    moment = parse_timestamp(occurred_at)
    if moment is None:
        return None
    start, end = moment - ENVELOPE_WINDOW, moment + ENVELOPE_WINDOW
    return f"{start.isoformat(timespec='milliseconds')},{end.isoformat(timespec='milliseconds')}"


def endpoint_template(path: str) -> str:
    """``/api/v1/documents/0a9…`` → ``/api/v1/documents/{key}``: keys out of span names."""
    segments = path.strip("/").split("/")
    return "/" + "/".join(part if part in _ENDPOINT_WORDS else "{key}" for part in segments)


def _unexpected(error: UnexpectedAnswer, path: str) -> ClicksignRejected:
    return ClicksignRejected(f"unexpected answer: {error}", status=200, path=path)


def _pause_after(retry_after: float | None) -> float:
    """How long to wait after a 429: until Clicksign's reset (at least a second), else a window."""
    return DEFAULT_PAUSE_AFTER_429 if retry_after is None else max(retry_after, 1.0)


def _api_of(error: ClicksignError) -> str:
    return API_3 if (error.path or "").startswith("/api/v3") else API_1


def _recordable(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:2000]
