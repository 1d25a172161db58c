"""Follow one event through crm_writer's history API until it is done, parked, or time is up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from signdeal_cli.api_access import refusal_message
from signdeal_cli.console import CliError

FINAL_STATUSES = frozenset({"done", "parked"})
POLL_INTERVAL_SECONDS = 0.25
REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass
class FollowResult:
    """The last history record seen (None if the event never showed up) and whether we gave up."""

    event: dict[str, Any] | None
    timed_out: bool


async def follow_event(
    history_url: str,
    event_id: str,
    wait_seconds: float,
    *,
    on_change: Callable[[str], None] = lambda _: None,
    headers: Mapping[str, str] | None = None,
) -> FollowResult:
    """Poll ``GET /events/{event_id}`` (with ``headers``: the history token); ``on_change`` hears
    each new status or attempt. A 401 or 403 stops at once with one line (`CliError`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    url = f"{history_url.rstrip('/')}/events/{event_id}"
    last: dict[str, Any] | None = None
    seen: tuple[object, object] | None = None
    unreachable_reported = False
    async with aiohttp.ClientSession(headers=dict(headers or {})) as session:
        while True:
            try:
                event = await _fetch(session, url, history_url)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                if not unreachable_reported:
                    on_change(f"  crm_writer's history does not answer yet ({type(exc).__name__})")
                    unreachable_reported = True
                event = None
            if event is not None:
                last = event
                state = (event.get("status"), event.get("attempts"))
                if state != seen:
                    seen = state
                    on_change(_describe(event))
                if event.get("status") in FINAL_STATUSES:
                    return FollowResult(event, timed_out=False)
            if loop.time() >= deadline:
                return FollowResult(last, timed_out=True)
            await asyncio.sleep(POLL_INTERVAL_SECONDS)


async def _fetch(
    session: aiohttp.ClientSession, url: str, history_url: str
) -> dict[str, Any] | None:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with session.get(url, timeout=timeout) as response:
        token_sent = "Authorization" in session.headers
        refused = refusal_message(response.status, history_url, token_sent=token_sent)
        if refused is not None:
            raise CliError(refused)
        if response.status != 200:
            return None
        payload = await response.json(content_type=None)
    return payload if isinstance(payload, dict) else None


def _describe(event: dict[str, Any]) -> str:
    line = f"  attempt {event.get('attempts')}: {event.get('status')}"
    if event.get("status") not in ("done", "processing") and event.get("error"):
        line += f" — {event['error']}"
    return line
