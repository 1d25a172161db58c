"""crm_writer's store: history, document → deal, contacts, locks (SQLite or PostgreSQL)."""

from services.crm_writer.store.base import (
    DocumentRecord,
    EventRecord,
    EventStatus,
    LockTimeout,
    Outcome,
    Store,
    open_store,
    opened,
)

__all__ = [
    "DocumentRecord",
    "EventRecord",
    "EventStatus",
    "LockTimeout",
    "Outcome",
    "Store",
    "open_store",
    "opened",
]
