"""History retention: what is older than ``HISTORY_RETENTION_DAYS`` is deleted, hourly.

The history holds signers' personal data (docs/privacy.md). A background task of crm_writer,
every `PURGE_INTERVAL_SECONDS`, removes what is older than the retention:

- events last attempted before the cut-off, with their stored payloads and RD requests and
  answers, except ``parked`` ones: they wait in the parking lot for a replay (which makes them
  ``done`` or parks them again, with a new attempt time) or for someone to erase them;
- e-mail → contact rows recorded before the cut-off: a cache of RD's own search, which a later
  event for that e-mail simply makes again;
- the name of document → deal rows whose deal id is known and that did not change since the
  cut-off (the name, often with a signer's name, only serves to find the deal after a crash).
  The document → deal row itself stays: it is what keeps a late event from creating a second deal.

Each store statement removes at most `PURGE_BATCH_ROWS` rows, in its own short transaction, so a
first purge of a large history never holds a lock for long; the consumer's writes go in between.
Several replicas may purge at once: the statements are idempotent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.crm_writer.observer import CrmWriterObserver, PurgedKind
from services.crm_writer.store import Store
from shared.logging import get_logger

log = get_logger()

PURGE_INTERVAL_SECONDS = 3600.0
PURGE_BATCH_ROWS = 500


def retention_cutoff(now: datetime, days: int) -> datetime:
    """What happened before this moment is past the retention."""
    return now - timedelta(days=days)


@dataclass(frozen=True)
class PurgeCounts:
    events: int = 0
    contacts: int = 0
    deal_names: int = 0

    @property
    def total(self) -> int:
        return self.events + self.contacts + self.deal_names


@dataclass
class HistoryRetention:
    """Purges the history of ``store`` past ``days``; reports each batch to ``observer``."""

    store: Store
    days: int
    observer: CrmWriterObserver
    batch_rows: int = PURGE_BATCH_ROWS

    async def run(self, interval_seconds: float = PURGE_INTERVAL_SECONDS) -> None:
        """Purge now, then every ``interval_seconds``, until cancelled; a failed run is logged
        and the next one tries again."""
        while True:
            try:
                await self.purge()
            except Exception as exc:
                log.warning("history.purge_failed", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(interval_seconds)

    async def purge(self, now: datetime | None = None) -> PurgeCounts:
        """One run: everything past the retention at ``now``, batch after batch."""
        cutoff = retention_cutoff(now or datetime.now(UTC), self.days)
        store = self.store
        counts = PurgeCounts(
            events=await self._drain(
                PurgedKind.EVENTS,
                lambda: store.purge_events(cutoff, batch_size=self.batch_rows),
            ),
            contacts=await self._drain(
                PurgedKind.CONTACTS,
                lambda: store.purge_contacts(cutoff, batch_size=self.batch_rows),
            ),
            deal_names=await self._drain(
                PurgedKind.DEAL_NAMES,
                lambda: store.clear_deal_names(cutoff, batch_size=self.batch_rows),
            ),
        )
        if counts.total:
            log.info(
                "history.purged",
                events=counts.events,
                contacts=counts.contacts,
                deal_names=counts.deal_names,
                retention_days=self.days,
                cutoff=cutoff.isoformat(),
            )
        return counts

    async def _drain(self, kind: PurgedKind, batch: Callable[[], Awaitable[int]]) -> int:
        """Run ``batch`` until it removes less than a full batch; each one is counted at once,
        so a run that fails half-way still reports what it removed."""
        total = 0
        while True:
            removed = await batch()
            if removed:
                total += removed
                self.observer.history_purged(kind, removed)
            if removed < self.batch_rows:
                return total
            await asyncio.sleep(0)  # let the consumer's statements in between batches
