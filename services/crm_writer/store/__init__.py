"""crm_writer's store: history, document → deal, contacts, locks (SQLite or PostgreSQL)."""

from services.crm_writer.store.base import (
    DocumentRecord,
    EventQuery,
    EventRecord,
    EventStatus,
    LockTimeout,
    Outcome,
    StatusCounts,
    Store,
    open_store,
    opened,
)

__all__ = [
    "DocumentRecord",
    "EventQuery",
    "EventRecord",
    "EventStatus",
    "LockTimeout",
    "Outcome",
    "StatusCounts",
    "Store",
    "open_store",
    "opened",
]
