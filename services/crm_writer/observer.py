"""The seam for metrics: crm_writer reports what happened to a `CrmWriterObserver`.

The consumer reports each delivery's outcome, the RD Station client each request and each wait on
the rate limiter, the backlog probe what waits in the broker and the store, and the retention task
what it purged. The default
observer does nothing; `services.crm_writer.metrics` implements the protocol for Prometheus.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol


class MessageOutcome(enum.StrEnum):
    """What became of one delivery from the work queue."""

    CREATED = "created"
    UPDATED = "updated"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    RETRIED = "retried"
    PARKED = "parked"
    CRASHED = "crashed"
    UNREADABLE = "unreadable"


class QueueRole(enum.StrEnum):
    WORK = "work"
    RETRY = "retry"
    PARKING_LOT = "parking_lot"


class PurgedKind(enum.StrEnum):
    """What the history retention removed (docs/privacy.md)."""

    EVENTS = "events"
    CONTACTS = "contacts"
    DEAL_NAMES = "deal_names"


class RdObserver(Protocol):
    def rd_request(self, method: str, endpoint: str, status: int | None, seconds: float) -> None:
        """One RD request; ``endpoint`` is the path template, ``status`` None when no answer."""

    def rate_limit_waited(self, seconds: float) -> None:
        """Time one RD request waited for the client-side rate limiter."""


class CrmWriterObserver(RdObserver, Protocol):
    def message_handled(self, outcome: MessageOutcome, seconds: float) -> None:
        """One delivery settled, with the time from its arrival to its ack or reject."""

    def queue_depths(self, depths: Mapping[str, tuple[QueueRole, int]]) -> None:
        """Ready messages per queue name, as the broker reported them just now."""

    def queue_depths_unknown(self) -> None:
        """The broker could not be asked: forget the depths rather than show stale ones."""

    def oldest_unprocessed_age(self, seconds: float | None) -> None:
        """Age of the oldest event still waiting to be processed; 0 if none, None if unknown."""

    def stuck_processing(self, count: int | None) -> None:
        """Events whose attempt began long ago and never finished; None if unknown."""

    def history_purged(self, kind: PurgedKind, rows: int) -> None:
        """The retention task deleted (or, for deal names, cleared) ``rows`` rows."""


class NullObserver:
    """Observes nothing: the default where no metrics are wanted (tests, tools)."""

    def rd_request(self, method: str, endpoint: str, status: int | None, seconds: float) -> None:
        return None

    def rate_limit_waited(self, seconds: float) -> None:
        return None

    def message_handled(self, outcome: MessageOutcome, seconds: float) -> None:
        return None

    def queue_depths(self, depths: Mapping[str, tuple[QueueRole, int]]) -> None:
        return None

    def queue_depths_unknown(self) -> None:
        return None

    def oldest_unprocessed_age(self, seconds: float | None) -> None:
        return None

    def stuck_processing(self, count: int | None) -> None:
        return None

    def history_purged(self, kind: PurgedKind, rows: int) -> None:
        return None
