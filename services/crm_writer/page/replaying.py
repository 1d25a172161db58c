"""The page's Replay button: parked events back to the work queue through crm_writer's own
broker connection (`replay.replay_parked`), and who asked for it recorded in the history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from aiormq.exceptions import AMQPError

from services.crm_writer.keys import RUNTIME, SETTINGS, STORE
from services.crm_writer.replay import ReplayReport, replay_parked
from shared.logging import get_logger

log = get_logger()

# The page waits this long for a replay; the parking lot is read one message at a time.
REPLAY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class PageReplay:
    """What one press of Replay did, for the next page to say."""

    replayed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    broker_down: bool = False
    error: str | None = None
    truncated: bool = False


def broker_reachable(app: web.Application) -> bool:
    connection = app[RUNTIME].connection
    return connection is not None and connection.connected.is_set()


async def replay_from_page(
    app: web.Application, *, event_ids: list[str], all_parked: bool, who: str
) -> PageReplay:
    """Replay ``event_ids`` (or every parked event) and record ``who`` on each replayed row."""
    connection = app[RUNTIME].connection
    if connection is None or not connection.connected.is_set():
        return PageReplay(broker_down=True)
    try:
        async with asyncio.timeout(REPLAY_TIMEOUT_SECONDS):
            report = await replay_parked(
                connection,
                app[SETTINGS].topology(),
                event_ids=event_ids or None,
                all_parked=all_parked,
            )
    except (AMQPError, OSError, TimeoutError) as exc:
        # Whatever was held goes back to the parking lot with the channel (replay.py).
        log.warning("history.page_replay_failed", error=str(exc) or type(exc).__name__)
        return PageReplay(error=str(exc) or type(exc).__name__)
    return await _recorded(app, report, event_ids, who)


async def _recorded(
    app: web.Application, report: ReplayReport, asked: list[str], who: str
) -> PageReplay:
    replayed = report.replayed_event_ids
    try:
        await app[STORE].record_replay(replayed, by=who, at=datetime.now(UTC))
    except Exception as exc:
        # The events are back in the work queue all the same: only the record is missing.
        log.warning("history.replay_not_recorded", error=str(exc) or type(exc).__name__)
    log.info("history.page_replayed", replayed=len(replayed), kept=len(report.kept))
    return PageReplay(
        replayed=replayed,
        missing=[event_id for event_id in dict.fromkeys(asked) if event_id not in replayed],
        error=report.error,
        truncated=report.truncated,
    )
