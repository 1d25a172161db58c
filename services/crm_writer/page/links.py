"""Where the page's links lead: a deal in RD Station, and back within the page after a form."""

from __future__ import annotations

from yarl import URL


def local_path(target: str | None) -> str:
    """``target`` when it is a path of this site (after a login, a form), else the list: never
    another site's URL, not even one written ``//host`` or ``/\\host``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parsed = URL(target)
    if parsed.is_absolute() or any(ord(ch) < 32 for ch in target):
        return "/"
    return target
