"""How the store tests build a store for a URL: short SQLite leases, so crash tests stay quick."""

from __future__ import annotations

from services.crm_writer.store import Store, open_store
from services.crm_writer.store.sqlite import SqliteStore

LEASE_TTL = 1.0


def build_store(url: str, lease_ttl: float = LEASE_TTL) -> Store:
    if url.startswith("sqlite:"):
        return SqliteStore(url, lock_ttl=lease_ttl)
    return open_store(url)
