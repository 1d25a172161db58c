"""The store's events, documents and contacts, written once in the SQL both backends speak.

Every write is a single statement (upserts with ``ON CONFLICT … DO UPDATE … RETURNING``), so
each is atomic on its own, against other coroutines and other processes alike, in both
backends. Placeholders are PostgreSQL's ``$n``; the SQLite backend rewrites them to ``?n``.
A backend supplies the connection (`SqlStore._fetch`), how it stores a timestamp, the one
expression that differs (appending to a JSON array), and its locks.

The history page's search (`SqlStore.search_events`, `SqlStore.count_by_status`) filters in SQL:
by file name and signer e-mail through two columns copied from the payload when the event is
first stored (`stored_payload.search_columns`), bounded in time by ``events_by_last_attempt``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from services.crm_writer.store.base import (
    MAX_LIST_LIMIT,
    MAX_PAGE_SIZE,
    DocumentRecord,
    EventQuery,
    EventRecord,
    EventStatus,
    Outcome,
    StatusCounts,
    Store,
)
from services.crm_writer.store.rows import (
    Row,
    document_record,
    event_record,
    iso_text,
    json_text,
    optional_time,
)
from services.crm_writer.store.stored_payload import (
    SIGNER_SEPARATOR,
    mentions_person,
    search_columns,
    stored_calls,
    stored_payload,
)
from shared.events import SignedDocumentEvent

# A known event that is done stays done: a redelivery only counts as a duplicate.
_BEGIN_ATTEMPT = """
    INSERT INTO events (
        event_id, document_key, event_name, correlation_id, status, attempts, duplicates,
        payload, rd_calls, received_at, first_attempt_at, last_attempt_at,
        search_filename, search_signers
    )
    VALUES ($1, $2, $3, $4, 'processing', 1, 0, $5, '[]', $6, $7, $7, $8, $9)
    ON CONFLICT (event_id) DO UPDATE SET
        attempts = events.attempts + CASE WHEN events.status = 'done' THEN 0 ELSE 1 END,
        duplicates = events.duplicates + CASE WHEN events.status = 'done' THEN 1 ELSE 0 END,
        last_attempt_at = CASE WHEN events.status = 'done'
            THEN events.last_attempt_at ELSE excluded.last_attempt_at END,
        status = CASE WHEN events.status = 'done' THEN events.status ELSE excluded.status END
    RETURNING *
"""

_RECORD_COMPLETION = """
    UPDATE events SET payload = $2, search_filename = $3, search_signers = $4
    WHERE event_id = $1
    RETURNING event_id
"""

_RECORD_UNREADABLE = """
    INSERT INTO events (
        event_id, document_key, event_name, correlation_id, status, attempts, duplicates,
        payload, rd_calls, error, received_at, first_attempt_at, last_attempt_at, finished_at
    )
    VALUES ($1, $2, $3, $4, 'parked', 1, 0, '{}', '[]', $5, $6, $7, $7, $7)
    ON CONFLICT (event_id) DO UPDATE SET
        attempts = events.attempts + CASE WHEN events.status = 'done' THEN 0 ELSE 1 END,
        error = CASE WHEN events.status = 'done' THEN events.error ELSE excluded.error END,
        last_attempt_at = CASE WHEN events.status = 'done'
            THEN events.last_attempt_at ELSE excluded.last_attempt_at END,
        finished_at = CASE WHEN events.status = 'done'
            THEN events.finished_at ELSE excluded.finished_at END,
        status = CASE WHEN events.status = 'done' THEN events.status ELSE 'parked' END
    RETURNING event_id
"""

# A done event stays done (as in `_BEGIN_ATTEMPT`): a failure noticed after its effect (a log
# line, the ack) must not mark it for doing again.
_FINISH_EVENT = """
    UPDATE events SET
        status = $2,
        outcome = $3,
        deal_id = COALESCE($4, deal_id),
        rd_calls = {append_rd_calls},
        error = $6,
        duration_ms = $7,
        finished_at = $8,
        note = $9
    WHERE event_id = $1 AND (status <> 'done' OR $2 = 'done')
    RETURNING event_id
"""

_GET_EVENT = "SELECT * FROM events WHERE event_id = $1"

_LIST_EVENTS = """
    SELECT * FROM events {where}
    ORDER BY last_attempt_at DESC, event_id DESC
    LIMIT {limit}
"""

_SEARCH_EVENTS = """
    SELECT * FROM events {where}
    ORDER BY last_attempt_at DESC, event_id DESC
    LIMIT {limit} OFFSET {offset}
"""

_COUNT_BY_STATUS = """
    SELECT status, count(*) AS events,
        sum(CASE WHEN status = 'done' AND outcome = 'ignored' THEN 1 ELSE 0 END) AS ignored,
        sum(CASE WHEN duplicates > 0 THEN 1 ELSE 0 END) AS duplicated
    FROM events {where}
    GROUP BY status
"""

_RECORD_REPLAY = "UPDATE events SET replays = {append} WHERE event_id IN ({ids}) RETURNING event_id"

_OLDEST_UNPROCESSED = """
    SELECT min(received_at) AS oldest FROM events WHERE status IN ('processing', 'retrying')
"""

_STUCK_PROCESSING = """
    SELECT count(*) AS stuck, min(last_attempt_at) AS oldest FROM events
    WHERE status = 'processing' AND last_attempt_at < $1
"""

_GET_DOCUMENT = "SELECT * FROM documents WHERE document_key = $1"

_FIND_DOCUMENT_BY_DEAL = "SELECT * FROM documents WHERE deal_id = $1"

_RECORD_DEAL_INTENT = """
    INSERT INTO documents (document_key, deal_name, intent_at, field_times, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $3, $3)
    ON CONFLICT (document_key) DO UPDATE SET
        deal_name = excluded.deal_name,
        intent_at = COALESCE(documents.intent_at, excluded.intent_at),
        field_times = COALESCE(excluded.field_times, documents.field_times),
        updated_at = excluded.updated_at
"""

_RECORD_DEAL = """
    INSERT INTO documents (document_key, deal_id, created_at, updated_at)
    VALUES ($1, $2, $3, $3)
    ON CONFLICT (document_key) DO UPDATE SET
        deal_id = excluded.deal_id,
        updated_at = excluded.updated_at
"""

# Only while the document still maps to that deal: a newer deal recorded meanwhile stays.
_FORGET_DEAL = """
    UPDATE documents SET
        deal_id = NULL, deal_name = NULL, intent_at = NULL, field_times = NULL, updated_at = $3
    WHERE document_key = $1 AND deal_id = $2
"""

_RECORD_FIELD_TIMES = """
    UPDATE documents SET field_times = $2, updated_at = $3 WHERE document_key = $1
    RETURNING document_key
"""

_GET_CONTACT = "SELECT contact_id FROM contacts WHERE email = $1"

_RECORD_CONTACT = """
    INSERT INTO contacts (email, contact_id, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (email) DO UPDATE SET contact_id = excluded.contact_id
"""

_PING = "SELECT max(version) AS version FROM schema_version"

# Retention: each statement deletes or clears one bounded batch, so that a big purge is many
# short statements (each its own transaction) and never one long lock. The inner SELECTs use
# events_by_last_attempt, contacts_by_created_at and documents_named.
_PURGE_EVENTS = """
    DELETE FROM events WHERE event_id IN (
        SELECT event_id FROM events
        WHERE last_attempt_at < $1 AND status <> 'parked'
        LIMIT $2
    )
    RETURNING event_id
"""

_PURGE_CONTACTS = """
    DELETE FROM contacts WHERE email IN (
        SELECT email FROM contacts WHERE created_at < $1 LIMIT $2
    )
    RETURNING contact_id
"""

_CLEAR_DEAL_NAMES = """
    UPDATE documents SET deal_name = NULL WHERE document_key IN (
        SELECT document_key FROM documents
        WHERE deal_name IS NOT NULL AND updated_at < $1 AND deal_id IS NOT NULL
        LIMIT $2
    )
    RETURNING document_key
"""

# Erasure: events whose payload, RD and Clicksign calls, note or error hold the e-mail ($1 is a
# LIKE pattern over the JSON text, $2 over plain text); which of them are the person's is decided
# on the decoded rows (`mentions_person`). SQLite's lower() folds ASCII only.
_EVENTS_MENTIONING = """
    SELECT * FROM events
    WHERE lower(CAST(payload AS TEXT)) LIKE $1 ESCAPE '\\'
       OR lower(CAST(rd_calls AS TEXT)) LIKE $1 ESCAPE '\\'
       OR lower(note) LIKE $2 ESCAPE '\\'
       OR lower(error) LIKE $2 ESCAPE '\\'
    ORDER BY received_at, event_id
"""

_DELETE_EVENTS = "DELETE FROM events WHERE event_id IN ({ids}) RETURNING event_id"

_FORGET_CONTACT = "DELETE FROM contacts WHERE email = $1 RETURNING contact_id"

_FORGET_DEAL_NAMES = """
    UPDATE documents SET deal_name = NULL
    WHERE document_key IN ({keys}) AND deal_name IS NOT NULL
    RETURNING document_key
"""

# How many ids go into one IN (…) list.
_IDS_PER_STATEMENT = 100


class SqlStore(Store):
    """`Store` on top of three backend primitives; see the module docstring."""

    # ``{column}``, a JSON array (NULL taken as empty), with the JSON array ``{value}`` appended.
    json_append: ClassVar[str]

    @abc.abstractmethod
    async def _fetch(self, query: str, *args: Any) -> Sequence[Row]:
        """Run one statement to completion and return its rows."""

    @abc.abstractmethod
    def _timestamp(self, moment: datetime) -> object:
        """``moment`` as the backend's timestamp columns take it."""

    def _now(self) -> object:
        return self._timestamp(datetime.now(UTC))

    async def ping(self) -> None:
        await self._fetch(_PING)

    # -- events and history -------------------------------------------------------------------

    async def begin_attempt(self, event: SignedDocumentEvent) -> EventRecord:
        payload = stored_payload(event)
        rows = await self._fetch(
            _BEGIN_ATTEMPT,
            event.event_id,
            event.document_key,
            event.event_name,
            event.correlation_id,
            json_text(payload),
            self._timestamp(event.received_at),
            self._now(),
            *search_columns(payload),
        )
        return event_record(rows[0])

    async def record_completion(self, event: SignedDocumentEvent) -> None:
        payload = stored_payload(event)
        await self._fetch(
            _RECORD_COMPLETION, event.event_id, json_text(payload), *search_columns(payload)
        )

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
        await self._fetch(
            _RECORD_UNREADABLE,
            event_id,
            document_key,
            event_name,
            correlation_id,
            reason,
            self._timestamp(received_at),
            self._now(),
        )

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
        rows = await self._fetch(
            _FINISH_EVENT.format(
                append_rd_calls=self.json_append.format(column="rd_calls", value="$5")
            ),
            event_id,
            status.value,
            outcome.value if outcome is not None else None,
            deal_id,
            json_text(stored_calls(rd_calls or [])),
            error,
            duration_ms,
            self._now(),
            note,
        )
        if not rows and await self.get_event(event_id) is None:
            raise KeyError(event_id)

    async def get_event(self, event_id: str) -> EventRecord | None:
        rows = await self._fetch(_GET_EVENT, event_id)
        return event_record(rows[0]) if rows else None

    async def list_events(
        self,
        *,
        status: EventStatus | None = None,
        document_key: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[EventRecord]:
        where = _Where()
        if status is not None:
            where.add("status = {}", status.value)
        if document_key is not None:
            where.add("document_key = {}", document_key)
        if since is not None:
            where.add("last_attempt_at >= {}", self._timestamp(since))
        bounded = max(0, min(limit, MAX_LIST_LIMIT))
        rows = await self._fetch(_LIST_EVENTS.format(where=where, limit=bounded), *where.args)
        return [event_record(row) for row in rows]

    async def search_events(
        self, query: EventQuery, *, limit: int = 50, offset: int = 0
    ) -> list[EventRecord]:
        where = self._matching(query)
        statement = _SEARCH_EVENTS.format(
            where=where, limit=max(0, min(limit, MAX_PAGE_SIZE)), offset=max(0, offset)
        )
        return [event_record(row) for row in await self._fetch(statement, *where.args)]

    async def count_by_status(self, query: EventQuery) -> StatusCounts:
        where = self._matching(query)
        rows = await self._fetch(_COUNT_BY_STATUS.format(where=where), *where.args)
        return StatusCounts(
            by_status={EventStatus(row["status"]): int(row["events"]) for row in rows},
            ignored=sum(int(row["ignored"] or 0) for row in rows),
            duplicated=sum(int(row["duplicated"] or 0) for row in rows),
        )

    def _matching(self, query: EventQuery) -> _Where:
        where = _Where()
        if query.status is not None:
            where.add("status = {}", query.status.value)
        if query.ignored is True:
            where.add("outcome = {}", Outcome.IGNORED.value)
        elif query.ignored is False:
            where.add("(outcome IS NULL OR outcome <> {})", Outcome.IGNORED.value)
        if query.duplicated:
            where.add("duplicates > 0")
        if query.document:
            text = query.document.strip()
            where.add(
                "(document_key = {} OR search_filename LIKE {} ESCAPE '\\')",
                text,
                _contains_pattern(text.lower()),
            )
        if query.signer_email:
            email = _email_key(query.signer_email)
            # Rows stored before the search columns existed are found in the payload's text.
            where.add(
                "(search_signers LIKE {} ESCAPE '\\' OR (search_signers IS NULL"
                " AND lower(CAST(payload AS TEXT)) LIKE {} ESCAPE '\\'))",
                _contains_pattern(f"{SIGNER_SEPARATOR}{email}{SIGNER_SEPARATOR}"),
                _contains_pattern(f'"{_json_string(email)}"'),
            )
        if query.since is not None:
            where.add("last_attempt_at >= {}", self._timestamp(query.since))
        if query.until is not None:
            where.add("last_attempt_at < {}", self._timestamp(query.until))
        return where

    async def record_replay(self, event_ids: Sequence[str], *, by: str, at: datetime) -> int:
        entry = json_text([{"by": by, "at": iso_text(at)}])
        append = self.json_append.format(column="replays", value="$1")
        return await self._in_batches(
            _RECORD_REPLAY.replace("{append}", append), "ids", event_ids, entry
        )

    async def oldest_unprocessed_received_at(self) -> datetime | None:
        rows = await self._fetch(_OLDEST_UNPROCESSED)
        return optional_time(rows[0]["oldest"])

    async def stuck_processing(self, attempted_before: datetime) -> tuple[int, datetime | None]:
        rows = await self._fetch(_STUCK_PROCESSING, self._timestamp(attempted_before))
        return int(rows[0]["stuck"] or 0), optional_time(rows[0]["oldest"])

    # -- retention and erasure ----------------------------------------------------------------

    async def purge_events(self, attempted_before: datetime, *, batch_size: int) -> int:
        rows = await self._fetch(_PURGE_EVENTS, self._timestamp(attempted_before), batch_size)
        return len(rows)

    async def purge_contacts(self, recorded_before: datetime, *, batch_size: int) -> int:
        rows = await self._fetch(_PURGE_CONTACTS, self._timestamp(recorded_before), batch_size)
        return len(rows)

    async def clear_deal_names(self, updated_before: datetime, *, batch_size: int) -> int:
        rows = await self._fetch(_CLEAR_DEAL_NAMES, self._timestamp(updated_before), batch_size)
        return len(rows)

    async def events_of_signer(self, email: str) -> tuple[list[EventRecord], list[str]]:
        rows = await self._fetch(
            _EVENTS_MENTIONING,
            _contains_pattern(_json_string(email)),
            _contains_pattern(_email_key(email)),
        )
        named, elsewhere = [], []
        for row in rows:
            record = event_record(row)
            texts = (record.note, record.error)
            if mentions_person(email, record.payload, record.rd_calls, texts):
                named.append(record)
            else:
                elsewhere.append(record.event_id)
        return named, elsewhere

    async def delete_events(self, event_ids: Sequence[str]) -> int:
        return await self._in_batches(_DELETE_EVENTS, "ids", event_ids)

    async def forget_contact(self, email: str) -> bool:
        return bool(await self._fetch(_FORGET_CONTACT, _email_key(email)))

    async def forget_deal_names(self, document_keys: Sequence[str]) -> int:
        return await self._in_batches(_FORGET_DEAL_NAMES, "keys", document_keys)

    async def _in_batches(
        self, statement: str, slot: str, values: Sequence[str], *leading: object
    ) -> int:
        """Run ``statement`` with its ``{slot}`` filled by a batch of values, batch after batch,
        after the ``leading`` parameters; returns the rows all the batches returned."""
        unique = list(dict.fromkeys(values))
        first = len(leading) + 1
        done = 0
        for start in range(0, len(unique), _IDS_PER_STATEMENT):
            batch = unique[start : start + _IDS_PER_STATEMENT]
            numbers = range(first, first + len(batch))
            placeholders = ", ".join(f"${number}" for number in numbers)
            statement_for_batch = statement.replace("{" + slot + "}", placeholders)
            done += len(await self._fetch(statement_for_batch, *leading, *batch))
        return done

    # -- documents and contacts ---------------------------------------------------------------

    async def get_document(self, document_key: str) -> DocumentRecord | None:
        rows = await self._fetch(_GET_DOCUMENT, document_key)
        return document_record(rows[0]) if rows else None

    async def record_deal_intent(
        self, document_key: str, deal_name: str, *, field_times: dict[str, datetime] | None = None
    ) -> None:
        times = None if field_times is None else _field_times_text(field_times)
        await self._fetch(_RECORD_DEAL_INTENT, document_key, deal_name, self._now(), times)

    async def record_deal(self, document_key: str, deal_id: str) -> None:
        await self._fetch(_RECORD_DEAL, document_key, deal_id, self._now())

    async def forget_deal(self, document_key: str, deal_id: str) -> None:
        await self._fetch(_FORGET_DEAL, document_key, deal_id, self._now())

    async def record_field_times(self, document_key: str, field_times: dict[str, datetime]) -> None:
        rows = await self._fetch(
            _RECORD_FIELD_TIMES, document_key, _field_times_text(field_times), self._now()
        )
        if not rows:
            raise KeyError(document_key)

    async def find_document_by_deal(self, deal_id: str) -> DocumentRecord | None:
        rows = await self._fetch(_FIND_DOCUMENT_BY_DEAL, deal_id)
        return document_record(rows[0]) if rows else None

    async def get_contact_id(self, email: str) -> str | None:
        rows = await self._fetch(_GET_CONTACT, _email_key(email))
        return str(rows[0]["contact_id"]) if rows else None

    async def record_contact(self, email: str, contact_id: str) -> None:
        await self._fetch(_RECORD_CONTACT, _email_key(email), contact_id, self._now())


class _Where:
    """A ``WHERE`` clause built condition by condition; each ``{}`` in a condition becomes the
    next ``$n`` placeholder, its value appended to `args`."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[object] = []

    def add(self, condition: str, *values: object) -> None:
        numbers = [f"${len(self.args) + index}" for index in range(1, len(values) + 1)]
        self.conditions.append(condition.format(*numbers))
        self.args.extend(values)

    def __str__(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


def _field_times_text(field_times: dict[str, datetime]) -> str:
    return json_text({field_id: iso_text(moment) for field_id, moment in field_times.items()})


def _email_key(email: str) -> str:
    return email.strip().lower()


def _json_string(email: str) -> str:
    """The e-mail as it is written inside the stored JSON text (quotes and backslashes
    escaped), lower-cased."""
    return json_text(_email_key(email))[1:-1]


def _contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching any text that contains ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
