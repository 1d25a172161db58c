"""What crm_writer keeps: processed events with their history, document → deal, e-mail → contact,
and cross-process locks. One small interface, two real backends (SQLite and PostgreSQL).

A backend raises `StoreUnavailable` for whatever its driver raises when the database cannot
answer now (a lost connection, a locked file, a timeout), so the retry policy knows no driver;
a driver error that means a bug (a constraint violated) stays the driver's own.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.events import SignedDocumentEvent


class EventStatus(enum.StrEnum):
    PROCESSING = "processing"
    DONE = "done"
    RETRYING = "retrying"
    PARKED = "parked"
    FAILED = "failed"


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    IGNORED = "ignored"


# `Store.list_events` never returns more rows than this, whatever the caller asks for.
MAX_LIST_LIMIT = 500
# `Store.search_events` never returns more rows than this per page.
MAX_PAGE_SIZE = 100


class LockTimeout(Exception):
    """The lock stayed held by someone else for longer than the caller would wait."""


class StoreError(Exception):
    """What a store raises instead of its driver's errors (the driver's error is the cause), so
    that callers, the retry policy included, never name a driver."""


class StoreUnavailable(StoreError):
    """The database did not answer, or not now (down, unreachable, locked, too slow): trying
    later can help. The message is the driver's; the driver's error is the cause."""


class StoreRefused(StoreError):
    """Opening the store was refused for a reason trying again cannot fix (no such database, a
    role it does not know, no right to create the tables): ``STORE_URL`` or the database needs
    fixing. The message is the driver's; the driver's error is the cause."""


@contextmanager
def unavailable_when(*driver_errors: type[BaseException]) -> Iterator[None]:
    """Raise `StoreUnavailable` for ``driver_errors`` raised inside: a backend names the errors
    of its driver that mean "cannot answer now"."""
    try:
        yield
    except driver_errors as exc:
        raise unavailable(exc) from exc


@contextmanager
def refused_when(*driver_errors: type[BaseException]) -> Iterator[None]:
    """Raise `StoreRefused` for ``driver_errors`` raised inside (while opening the store)."""
    try:
        yield
    except driver_errors as exc:
        raise StoreRefused(str(exc) or type(exc).__name__) from exc


def unavailable(driver_error: BaseException) -> StoreUnavailable:
    return StoreUnavailable(str(driver_error) or type(driver_error).__name__)


@dataclass(frozen=True)
class EventRecord:
    """One Clicksign event and everything that happened to it: the automation history row.

    ``note`` says why an event ended as it did when that is not an error (why it was ignored).
    ``payload`` is the event as crm_writer first received it (`SignedDocumentEvent` in its JSON
    form, so it can be replayed; its ``raw`` is what left Clicksign), or, once a thin webhook was
    completed from Clicksign's API, the completed event (`record_completion`; ``raw`` unchanged).
    ``rd_calls`` holds the RD requests and answers of every attempt, oldest first. Timestamps
    are aware, in UTC.
    """

    event_id: str
    document_key: str
    event_name: str
    correlation_id: str
    status: EventStatus
    attempts: int
    duplicates: int
    payload: dict[str, Any]
    received_at: datetime
    first_attempt_at: datetime
    last_attempt_at: datetime
    outcome: Outcome | None = None
    deal_id: str | None = None
    rd_calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    note: str | None = None
    # Who sent the event back from the parking lot, and when: ``{"by": …, "at": ISO 8601}``.
    replays: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class EventQuery:
    """What the history page asks for: every filter given must hold.

    ``ignored`` True keeps the events whose outcome is ``ignored``, False the others;
    ``duplicated`` keeps the events redelivered at least once. ``document`` is a document key,
    or a part of the file name (case-insensitive); ``signer_email`` the e-mail of one of the
    event's signers (case-insensitive, whole). ``since`` and ``until`` bound the last attempt:
    at or after ``since``, before ``until`` (naive datetimes are UTC).
    """

    status: EventStatus | None = None
    ignored: bool | None = None
    duplicated: bool = False
    document: str | None = None
    signer_email: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def any_status(self) -> EventQuery:
        """The same query without its status, outcome and duplicate filters."""
        return replace(self, status=None, ignored=None, duplicated=False)


@dataclass(frozen=True)
class StatusCounts:
    """How many events a query matches per status; ``ignored`` (done, outcome ignored) and
    ``duplicated`` (redelivered at least once) count events also counted in ``by_status``."""

    by_status: dict[EventStatus, int] = field(default_factory=dict)
    ignored: int = 0
    duplicated: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def of(self, status: EventStatus) -> int:
        return self.by_status.get(status, 0)


@dataclass(frozen=True)
class DocumentRecord:
    """A Clicksign document and the RD deal made for it.

    ``intent_at``/``deal_name`` are written before the deal is created, so that a crash between
    "RD created the deal" and "the deal id was stored" can be recovered by looking the deal up.
    ``field_times`` maps each deal custom field written for the document to when the event that
    wrote it last happened (Clicksign's ``occurred_at``).
    """

    document_key: str
    deal_id: str | None
    deal_name: str | None
    intent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    field_times: dict[str, datetime] = field(default_factory=dict)


class Store(abc.ABC):
    """The persistence crm_writer needs. Every method is safe to call from several processes."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema if it is missing; `StoreUnavailable` when the database
        cannot answer now, `StoreRefused` when it refuses (`services.crm_writer.store.open_errors`
        says which in words)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot answer a trivial query (readiness)."""

    # -- events and history -------------------------------------------------------------------

    @abc.abstractmethod
    async def begin_attempt(self, event: SignedDocumentEvent) -> EventRecord:
        """Record that processing of ``event`` starts, atomically.

        New event: insert with status ``processing``, attempts 1. Known event not done:
        attempts + 1, status ``processing``, ``last_attempt_at`` now. Known event already
        ``done``: leave it as it is except ``duplicates`` + 1, and return it with status ``done``
        (the caller acks it). Callers racing on one new event all succeed, each with its own
        attempt number.
        """

    @abc.abstractmethod
    async def record_completion(self, event: SignedDocumentEvent) -> None:
        """``event`` was completed from Clicksign's API: its stored payload becomes the completed
        event (document, signers), whose ``raw`` is still the webhook as received, and what the
        history searches by follows. Nothing happens for an event the history does not hold."""

    @abc.abstractmethod
    async def record_unreadable(
        self,
        event_id: str,
        *,
        document_key: str,
        event_name: str,
        correlation_id: str,
        received_at: datetime,
        reason: str,
    ) -> None:
        """Record a message that is no event crm_writer can read, parked as it arrived: status
        ``parked``, ``reason`` as its error, and no payload (the message keeps its body in the
        parking lot; what nobody can read is not worth keeping twice). An event already ``done``
        under that id stays as it is."""

    @abc.abstractmethod
    async def finish_event(
        self,
        event_id: str,
        *,
        status: EventStatus,
        outcome: Outcome | None = None,
        deal_id: str | None = None,
        rd_calls: list[dict[str, Any]] | None = None,
        error: str | None = None,
        duration_ms: float | None = None,
        note: str | None = None,
    ) -> None:
        """Write the result of the current attempt; ``rd_calls`` are appended to the history.

        ``status``, ``outcome``, ``error``, ``note`` (why it ended so, when that is not an
        error: why the mapping ignored it) and ``duration_ms`` replace the previous attempt's;
        ``finished_at`` becomes now; a ``deal_id`` of None keeps the one already known. An event
        already ``done`` is left as it is unless ``status`` is ``done`` too: a failure noticed
        after the effect (a log line, the ack) never marks it to be done again.
        Raises `KeyError` if `begin_attempt` was never called for ``event_id``.
        """

    @abc.abstractmethod
    async def get_event(self, event_id: str) -> EventRecord | None: ...

    @abc.abstractmethod
    async def list_events(
        self,
        *,
        status: EventStatus | None = None,
        document_key: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[EventRecord]:
        """Newest first (by ``last_attempt_at``); the filters combine.

        ``since`` keeps events attempted at or after it (a naive datetime is taken as UTC);
        ``limit`` is capped at `MAX_LIST_LIMIT`.
        """

    @abc.abstractmethod
    async def search_events(
        self, query: EventQuery, *, limit: int = 50, offset: int = 0
    ) -> list[EventRecord]:
        """One page of the events ``query`` matches, newest first (by ``last_attempt_at``, then
        ``event_id``): ``offset`` rows skipped, at most ``limit`` (capped at `MAX_PAGE_SIZE`)."""

    @abc.abstractmethod
    async def count_by_status(self, query: EventQuery) -> StatusCounts:
        """How many events ``query`` matches, per status (one aggregate statement)."""

    @abc.abstractmethod
    async def record_replay(self, event_ids: Sequence[str], *, by: str, at: datetime) -> int:
        """Append ``{"by": by, "at": at}`` to these events' ``replays``; returns how many
        events were known."""

    @abc.abstractmethod
    async def oldest_unprocessed_received_at(self) -> datetime | None:
        """When ingest received the oldest event still ``processing`` or ``retrying`` (UTC), or
        None if there is none: how far behind crm_writer is. Done, parked and failed events do not
        count (a failed one is back in the broker at once; a parked one waits for an operator)."""

    @abc.abstractmethod
    async def stuck_processing(self, attempted_before: datetime) -> tuple[int, datetime | None]:
        """How many events are still ``processing`` from an attempt that began before
        ``attempted_before``, and the oldest such attempt: an attempt nobody finished (a process
        that died, a history write that failed)."""

    # -- retention and erasure (the history holds signers' personal data) ---------------------

    @abc.abstractmethod
    async def purge_events(self, attempted_before: datetime, *, batch_size: int) -> int:
        """Delete up to ``batch_size`` events last attempted before ``attempted_before``, with
        their payloads and RD requests and answers; ``parked`` ones are kept (they wait for a
        replay, which changes their status). Returns how many went. One short statement: call
        again until it returns less than ``batch_size``."""

    @abc.abstractmethod
    async def purge_contacts(self, recorded_before: datetime, *, batch_size: int) -> int:
        """Delete up to ``batch_size`` e-mail → contact rows recorded before ``recorded_before``
        (a cache of RD's own answer: a later event for that e-mail searches RD again)."""

    @abc.abstractmethod
    async def clear_deal_names(self, updated_before: datetime, *, batch_size: int) -> int:
        """Forget the name (often with a signer's name in it) of up to ``batch_size`` documents
        whose deal id is known and that did not change since ``updated_before``. The document →
        deal row itself stays; a document without a deal id keeps its name, which is what finds
        the deal again after a crash."""

    @abc.abstractmethod
    async def events_of_signer(self, email: str) -> tuple[list[EventRecord], list[str]]:
        """The events that hold ``email``'s data (case-insensitive), oldest first: the payload
        names it as a signer, or the calls, note or error mention it (`mentions_person`); and
        the ids of other events whose payload mentions it elsewhere. Reads the whole history:
        for an occasional erasure request, not for the pipeline."""

    @abc.abstractmethod
    async def delete_events(self, event_ids: Sequence[str]) -> int:
        """Delete these events (unknown ids are skipped); returns how many were deleted."""

    @abc.abstractmethod
    async def forget_contact(self, email: str) -> bool:
        """Delete the e-mail → contact row of ``email``; False if there was none."""

    @abc.abstractmethod
    async def forget_deal_names(self, document_keys: Sequence[str]) -> int:
        """Forget the name of these documents, their deal id known or not (an erasure: see
        `services.crm_writer.erasure`); returns how many names were cleared."""

    # -- documents and contacts ---------------------------------------------------------------

    @abc.abstractmethod
    async def get_document(self, document_key: str) -> DocumentRecord | None: ...

    @abc.abstractmethod
    async def record_deal_intent(
        self, document_key: str, deal_name: str, *, field_times: dict[str, datetime] | None = None
    ) -> None:
        """Before creating a deal: remember that one is about to be created, and its name.

        An existing ``deal_id`` is left alone. ``intent_at`` keeps the first intent, so that a
        deal created by any earlier attempt still falls inside the recovery window.
        ``field_times``, when given, replaces the document's (as `record_field_times`), so that
        a crash after RD created the deal still protects the fields it was created with.
        """

    @abc.abstractmethod
    async def record_deal(self, document_key: str, deal_id: str) -> None:
        """The deal for this document exists in RD with this id (a deal id belongs to one
        document only: recording it for a second document raises)."""

    @abc.abstractmethod
    async def forget_deal(self, document_key: str, deal_id: str) -> None:
        """RD no longer has ``deal_id`` (deleted, merged, or an RD that was reset): the document
        maps to no deal any more, with no intent and no field times, so the next attempt creates
        one. Nothing happens if the document maps to another deal meanwhile."""

    @abc.abstractmethod
    async def record_field_times(self, document_key: str, field_times: dict[str, datetime]) -> None:
        """Replace the document's ``field_times``; the caller holds the document's lock and
        passes the whole map. The document must exist (an intent or a deal)."""

    @abc.abstractmethod
    async def find_document_by_deal(self, deal_id: str) -> DocumentRecord | None: ...

    @abc.abstractmethod
    async def get_contact_id(self, email: str) -> str | None:
        """The RD contact id already used for this e-mail (case-insensitive), if any."""

    @abc.abstractmethod
    async def record_contact(self, email: str, contact_id: str) -> None: ...

    # -- locks --------------------------------------------------------------------------------

    @abc.abstractmethod
    def lock(self, name: str, *, timeout: float = 60.0) -> AbstractAsyncContextManager[None]:
        """An exclusive lock on ``name`` held across processes and released if the holder dies.

        Raises `LockTimeout` if it cannot be taken within ``timeout`` seconds.
        """


@asynccontextmanager
async def opened(store: Store) -> AsyncIterator[Store]:
    await store.open()
    try:
        yield store
    finally:
        await store.close()
