"""The seam for metrics: ingest reports what happened to an `IngestObserver`.

`create_app` installs the Prometheus observer (`services.ingest.metrics`); the handlers only know
this protocol, so another exporter would not touch them.
"""

from __future__ import annotations

import enum
from typing import Protocol


class WebhookOutcome(enum.StrEnum):
    """What became of one ``POST /webhooks/clicksign``."""

    PUBLISHED = "published"
    IGNORED = "ignored"
    BAD_SIGNATURE = "bad_signature"
    BAD_PAYLOAD = "bad_payload"
    TOO_LARGE = "too_large"
    TOO_SLOW = "too_slow"
    BUSY = "busy"
    ABANDONED = "abandoned"
    PUBLISH_FAILED = "publish_failed"


class IngestObserver(Protocol):
    def request_served(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP answer; ``route`` is the route template, never the raw path."""

    def webhook_handled(
        self, outcome: WebhookOutcome, event_name: str | None, publish_seconds: float | None
    ) -> None:
        """One webhook, with the time spent waiting for the broker when it was published."""
