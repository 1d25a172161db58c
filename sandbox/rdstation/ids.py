"""Ids and timestamps shaped like RD Station CRM's: Mongo ObjectIds and São Paulo offsets."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import overload

SAO_PAULO = timezone(timedelta(hours=-3))
SEED_EPOCH = datetime(2024, 3, 4, 9, 0, tzinfo=SAO_PAULO)
_COUNTER_SPACE = 1 << 24


@overload
def rd_timestamp(moment: datetime) -> str: ...
@overload
def rd_timestamp(moment: None) -> None: ...
@overload
def rd_timestamp(moment: datetime | None) -> str | None: ...


def rd_timestamp(moment: datetime | None) -> str | None:
    """``2023-02-16T10:29:36.600-03:00``, the way v1 writes every date-time."""
    if moment is None:
        return None
    return moment.astimezone(SAO_PAULO).isoformat(timespec="milliseconds")


def utc_now() -> datetime:
    return datetime.now(UTC)


class ObjectIdFactory:
    """24-hex ids laid out like ObjectIds (time, machine, counter); the same seed gives the same
    sequence, so a demo run against a fresh sandbox always prints the same ids."""

    def __init__(self, seed: str, epoch: datetime = SEED_EPOCH, *, issued: int = 0) -> None:
        """``issued``: how many ids this seed has given already (a sandbox restored from its
        state file goes on from there instead of giving them again)."""
        digest = hashlib.sha256(seed.encode()).digest()
        self._machine = digest[:5].hex()
        self._first_counter = int.from_bytes(digest[5:8], "big")
        self._epoch_seconds = int(epoch.timestamp())
        self._issued = issued

    @property
    def issued(self) -> int:
        return self._issued

    def next(self) -> str:
        n = self._issued
        self._issued += 1
        counter = (self._first_counter + n) % _COUNTER_SPACE
        return f"{self._epoch_seconds + n:08x}{self._machine}{counter:06x}"


def is_object_id(value: str) -> bool:
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)
