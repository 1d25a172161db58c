"""Where ``signdeal history`` reads from: the store itself, or crm_writer's HTTP history API.

Both give the API's JSON shapes (`event_summary` rows, a full record for one event), so the
rendering and ``--json`` are the same whichever source answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp

from services.crm_writer.store import EventStatus, Store, open_store
from services.crm_writer.store.sqlite import sqlite_path
from services.crm_writer.views import event_summary
from shared.logging import redact_text
from signdeal_cli.api_access import refusal_message
from signdeal_cli.console import EXIT_USAGE, CliError, jsonable
from signdeal_cli.environment import display_url

API_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class EventFilter:
    status: EventStatus | None = None
    document_key: str | None = None
    since: datetime | None = None
    limit: int = 50


class HistorySource(Protocol):
    async def list_events(self, wanted: EventFilter) -> list[dict[str, Any]]: ...

    async def get_event(self, event_id: str) -> dict[str, Any] | None: ...


@dataclass
class StoreHistory:
    """Reads the store crm_writer writes (``STORE_URL``)."""

    store: Store

    async def list_events(self, wanted: EventFilter) -> list[dict[str, Any]]:
        records = await self.store.list_events(
            status=wanted.status,
            document_key=wanted.document_key,
            since=wanted.since,
            limit=wanted.limit,
        )
        return [jsonable(event_summary(record)) for record in records]

    async def get_event(self, event_id: str) -> dict[str, Any] | None:
        record = await self.store.get_event(event_id)
        return None if record is None else jsonable(asdict(record))


@dataclass
class ApiHistory:
    """Reads crm_writer's ``GET /events`` and ``GET /events/{id}`` (a remote deployment);
    ``headers`` carry ``CRM_WRITER_API_TOKEN`` (`signdeal_cli.api_access.auth_headers`)."""

    base_url: str
    session: aiohttp.ClientSession
    headers: Mapping[str, str] = field(default_factory=dict)

    async def list_events(self, wanted: EventFilter) -> list[dict[str, Any]]:
        params = {"limit": str(wanted.limit)}
        if wanted.status is not None:
            params["status"] = wanted.status.value
        if wanted.document_key:
            params["document_key"] = wanted.document_key
        if wanted.since is not None:
            params["since"] = wanted.since.astimezone(UTC).isoformat().replace("+00:00", "Z")
        answer = await self._get("/events", params)
        events = answer.get("events") if isinstance(answer, dict) else None
        if not isinstance(events, list):
            raise CliError(f"{self.base_url}/events answered something that is not a history")
        return events

    async def get_event(self, event_id: str) -> dict[str, Any] | None:
        answer = await self._get(f"/events/{event_id}", {})
        return answer if isinstance(answer, dict) else None

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        url = self.base_url.rstrip("/") + path
        try:
            async with self.session.get(
                url,
                params=params,
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=API_TIMEOUT_SECONDS),
            ) as response:
                refused = refusal_message(
                    response.status, self.base_url, token_sent="Authorization" in self.headers
                )
                if refused is not None:
                    raise CliError(refused)
                if response.status == 404 and path != "/events":
                    return None
                payload = await response.json(content_type=None)
                if response.status == 400:
                    raise CliError(f"crm_writer refused the query: {_error(payload)}", EXIT_USAGE)
                if response.status != 200:
                    raise CliError(f"{url} answered {response.status}: {_error(payload)}")
                return payload
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = redact_text(str(exc) or type(exc).__name__)
            raise CliError(f"cannot read crm_writer's history at {url}: {reason}") from None


def _error(payload: Any) -> str:
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    return str(payload)[:200]


@asynccontextmanager
async def open_history(
    store_url: str, api_url: str | None, headers: Mapping[str, str] | None = None
) -> AsyncIterator[HistorySource]:
    """The API when ``api_url`` is given (called with ``headers``), otherwise the store at
    ``store_url``."""
    if api_url:
        async with aiohttp.ClientSession() as session:
            yield ApiHistory(api_url, session, dict(headers or {}))
        return
    async with history_store(store_url) as store:
        yield StoreHistory(store)


@asynccontextmanager
async def history_store(store_url: str) -> AsyncIterator[Store]:
    """The store crm_writer writes (``STORE_URL``), opened; one line if it cannot be."""
    if store_url.startswith("sqlite:") and not sqlite_path(store_url).exists():
        raise CliError(
            f"no history yet: {sqlite_path(store_url)} does not exist (crm_writer creates it; "
            "is STORE_URL the one crm_writer uses, relative to the same directory?)"
        )
    store = open_store(store_url)
    try:
        await store.open()
    except Exception as exc:
        await store.close()
        reason = redact_text(str(exc) or type(exc).__name__)
        raise CliError(f"cannot open the store {display_url(store_url)}: {reason}") from None
    try:
        yield store
    finally:
        await store.close()
