"""Clicksign webhook signatures: ``Content-Hmac: sha256=<hex>``, HMAC-SHA256 of the raw body.

Verification is a pure function of (raw bytes, header value, secrets); `sign` forges a valid header,
for tests, the sample sender and benchmarks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "Content-Hmac"
_PREFIX = "sha256="


class InvalidSignature(Exception):
    """The request is not signed with any of the configured secrets."""


def sign(body: bytes, secret: str) -> str:
    """The ``Content-Hmac`` header value Clicksign sends for ``body`` signed with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{_PREFIX}{digest}"


def verify_clicksign_signature(body: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """Raise `InvalidSignature` unless ``header`` signs ``body`` with one of ``secrets``.

    Every secret is tried (several are configured while one is being rotated) and each
    comparison is constant-time.
    """
    if not header:
        raise InvalidSignature("missing Content-Hmac header")
    value = header.strip()
    if not value.lower().startswith(_PREFIX):
        raise InvalidSignature("Content-Hmac header does not start with sha256=")
    received = value[len(_PREFIX) :].strip().lower().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        expected = sign(body, secret)[len(_PREFIX) :].encode("ascii")
        # No early exit: the time taken does not reveal which secret matched.
        matched |= hmac.compare_digest(expected, received)
    if not matched:
        raise InvalidSignature("Content-Hmac does not match the body")
