"""Which requests are Clicksign's: its API shares the sandbox's port and ``/api/v1`` with RD's."""

from __future__ import annotations

V1_PREFIXES = ("/api/v1/documents", "/api/v1/accounts")
V3_PREFIX = "/api/v3/"


def is_clicksign_path(path: str) -> bool:
    """RD v1 has no ``documents`` or ``accounts`` resource and no ``/api/v3``."""
    return path.startswith(V3_PREFIX) or any(
        path == prefix or path.startswith(prefix + "/") for prefix in V1_PREFIXES
    )


def is_v3(path: str) -> bool:
    return path.startswith(V3_PREFIX)
