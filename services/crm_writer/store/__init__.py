"""crm_writer's store: history, document → deal, contacts, locks (SQLite or PostgreSQL).

`open_store` picks the backend for ``STORE_URL``; `check_store_url` is the one check of that URL
(the settings run it when they are read).
"""

from services.crm_writer.store.base import (
    DocumentRecord,
    EventQuery,
    EventRecord,
    EventStatus,
    LockTimeout,
    Outcome,
    StatusCounts,
    Store,
    StoreError,
    StoreRefused,
    StoreUnavailable,
    opened,
)

_SQLITE = "sqlite:///"
_POSTGRESQL = ("postgresql://", "postgres://")


def check_store_url(url: str) -> str:
    """``url`` when a backend takes it; `ValueError` saying what ``STORE_URL`` takes otherwise."""
    if not url.startswith((_SQLITE, *_POSTGRESQL)):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return url


def open_store(url: str) -> Store:
    """The backend for ``url`` (``sqlite:///path`` or ``postgresql://…``), not opened yet."""
    if check_store_url(url).startswith(_SQLITE):
        from services.crm_writer.store.sqlite import SqliteStore

        return SqliteStore(url)
    from services.crm_writer.store.postgres import PostgresStore

    return PostgresStore(url)


__all__ = [
    "DocumentRecord",
    "EventQuery",
    "EventRecord",
    "EventStatus",
    "LockTimeout",
    "Outcome",
    "StatusCounts",
    "Store",
    "StoreError",
    "StoreRefused",
    "StoreUnavailable",
    "check_store_url",
    "open_store",
    "opened",
]
