"""Why a store cannot be opened (``STORE_URL``), as one line an operator can act on: the
variable, the host and port or the file (never a password), what to check.

The store's errors (`StoreUnavailable`, `StoreRefused`) carry the driver's error as their cause;
this module is the one outside the backends that reads the drivers' error types, so nothing else
in crm_writer or the CLI names a driver. A new backend adds its words here.
"""

from __future__ import annotations

import asyncpg
from yarl import URL

from services.crm_writer.store.base import StoreError
from shared.connection_errors import describe_unreachable, exception_reason

POSTGRES_PORT = 5432


def describe_store_failure(store_url: str, exc: BaseException) -> str:
    """One line for a store that cannot be opened, e.g. ``STORE_URL: database 'signdeal' does
    not exist on db.internal:5432: create it (…) or fix the database name in STORE_URL``.

    ``exc`` is what opening raised: a `StoreError`, whose cause (the driver's error) is what is
    described, or anything else, described as it is."""
    if isinstance(exc, StoreError) and exc.__cause__ is not None:
        exc = exc.__cause__
    reason = exception_reason(exc)
    if store_url.startswith("sqlite:"):
        path = store_url.removeprefix("sqlite:///")
        return (
            f"STORE_URL: cannot open the SQLite database {path} ({reason}): check that its "
            "folder exists or can be created, and that this user may write there"
        )
    url = URL(store_url)
    host, port = url.host or "localhost", url.port or POSTGRES_PORT
    where, user = f"{host}:{port}", url.user or "(the login user)"
    database = url.path.lstrip("/") or url.user or "(default)"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (
            f"STORE_URL: database {database!r} does not exist on {where}: create it "
            f"(`createdb -h {host} -p {port} {database}`) or fix the database name in STORE_URL"
        )
    if isinstance(
        exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return (
            f"STORE_URL: PostgreSQL at {where} refused user {user!r} ({reason}): check the user "
            "and password in STORE_URL"
        )
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return (
            f"STORE_URL: user {user!r} may not create signdeal's tables in database "
            f"{database!r} on {where} ({reason}): grant it CREATE on the schema, or use its owner"
        )
    hint = f"is PostgreSQL running there? (`pg_isready -h {host} -p {port}`)"
    return describe_unreachable("STORE_URL", "PostgreSQL", host, where, exc, hint)
