"""The store's tables, written once for both backends.

Only column types differ: PostgreSQL keeps ``timestamptz`` and ``jsonb``, SQLite keeps ISO 8601
text and JSON text. Every statement is idempotent, so `create_schema` runs on each start;
``schema_version`` gives later migrations a place to record themselves.

A column added later (`ADDED_COLUMNS`) is in ``CREATE TABLE`` for new stores and added to older
ones at start-up. Such an addition is backward compatible (nullable, read by name): it does not
raise ``SCHEMA_VERSION``, so the previous crm_writer still starts against the store (a rollback).
The version goes up only for changes older code cannot live with; older code then refuses to start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1

Run = Callable[..., Awaitable[Sequence[Any]]]


@dataclass(frozen=True)
class ColumnTypes:
    timestamp: str
    json: str
    # The column names of table $1, one row each, as "name".
    column_names: str
    # Adds {column} {type} to {table}; PostgreSQL's says IF NOT EXISTS, SQLite has no such form.
    add_column: str = "ALTER TABLE {table} ADD COLUMN {column} {type}"


# Columns added after the first release, as (table, column, type): present in the CREATE TABLE
# statements below and added where an older store lacks them.
ADDED_COLUMNS = (
    # Why an event ended as it did when that is not an error (e.g. why the mapping ignored it).
    ("events", "note", "TEXT"),
    # Per deal custom field, when the event that last wrote it happened: an older event that
    # arrives late does not write a field over a newer event's value.
    ("documents", "field_times", "{json}"),
    # What the history page searches by (`stored_payload.search_columns`): the file name and the
    # signers' e-mails, lower-cased, copied from the payload when the event is first stored.
    ("events", "search_filename", "TEXT"),
    ("events", "search_signers", "TEXT"),
    # Who replayed the event from the parking lot, and when (a JSON array).
    ("events", "replays", "{json}"),
)


_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        applied_at {timestamp} NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        document_key TEXT NOT NULL,
        event_name TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        deal_id TEXT,
        attempts INTEGER NOT NULL,
        duplicates INTEGER NOT NULL DEFAULT 0,
        payload {json} NOT NULL,
        rd_calls {json} NOT NULL,
        error TEXT,
        note TEXT,
        search_filename TEXT,
        search_signers TEXT,
        replays {json},
        received_at {timestamp} NOT NULL,
        first_attempt_at {timestamp} NOT NULL,
        last_attempt_at {timestamp} NOT NULL,
        finished_at {timestamp},
        duration_ms DOUBLE PRECISION
    )
    """,
    "CREATE INDEX IF NOT EXISTS events_by_status ON events (status, last_attempt_at)",
    "CREATE INDEX IF NOT EXISTS events_by_document ON events (document_key)",
    # The history's default view: every event, newest first.
    "CREATE INDEX IF NOT EXISTS events_by_last_attempt ON events (last_attempt_at)",
    """
    CREATE TABLE IF NOT EXISTS documents (
        document_key TEXT PRIMARY KEY,
        deal_id TEXT UNIQUE,
        deal_name TEXT,
        intent_at {timestamp},
        field_times {json},
        created_at {timestamp} NOT NULL,
        updated_at {timestamp} NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS contacts (
        email TEXT PRIMARY KEY,
        contact_id TEXT NOT NULL,
        created_at {timestamp} NOT NULL
    )
    """,
    # Retention (services.crm_writer.retention): the rows each purge batch looks for. Created on
    # older stores too; only the documents still holding a name are in the partial index.
    "CREATE INDEX IF NOT EXISTS contacts_by_created_at ON contacts (created_at)",
    """
    CREATE INDEX IF NOT EXISTS documents_named ON documents (updated_at)
    WHERE deal_name IS NOT NULL
    """,
)

# PostgreSQL only (`services.crm_writer.shared_budget`): the RD request budget every
# replica books its requests from, one row per token fingerprint, times on the database's clock.
# A new table: older crm_writers never read it, so it needs no new schema version.
REQUEST_BUDGETS_TABLE = """
    CREATE TABLE IF NOT EXISTS request_budgets (
        budget_key TEXT PRIMARY KEY,
        next_at TIMESTAMPTZ NOT NULL,
        paused_until TIMESTAMPTZ NOT NULL
    )
"""

_RECORD_VERSION = """
    INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)
    ON CONFLICT (version) DO NOTHING
"""

_NEWEST_VERSION = "SELECT max(version) AS version FROM schema_version"


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer crm_writer than this one."""


def table_statements(types: ColumnTypes) -> list[str]:
    return [statement.format(timestamp=types.timestamp, json=types.json) for statement in _TABLES]


async def create_schema(run: Run, types: ColumnTypes, applied_at: object, *extra: str) -> None:
    """Create whatever is missing with ``run(sql, *args)``; ``extra`` are backend-only tables."""
    for statement in (*table_statements(types), *extra):
        await run(statement)
    for table, column, column_type in ADDED_COLUMNS:
        await _add_column_if_missing(run, types, table, column, column_type)
    await run(_RECORD_VERSION, SCHEMA_VERSION, applied_at)
    rows = await run(_NEWEST_VERSION)
    found = int(rows[0]["version"])
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the store is at schema version {found}; this crm_writer knows up to {SCHEMA_VERSION}"
        )


async def _add_column_if_missing(
    run: Run, types: ColumnTypes, table: str, column: str, column_type: str
) -> None:
    if column in await _columns(run, types, table):
        return
    try:
        sql_type = column_type.format(timestamp=types.timestamp, json=types.json)
        await run(types.add_column.format(table=table, column=column, type=sql_type))
    except Exception:
        # Another SQLite process starting at the same time may have added it first.
        if column not in await _columns(run, types, table):
            raise


async def _columns(run: Run, types: ColumnTypes, table: str) -> set[str]:
    return {str(row["name"]) for row in await run(types.column_names, table)}
