"""Prometheus metrics of ingest: an `IngestObserver` that counts and times what happens."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.ingest.observer import WebhookOutcome
from shared.event_kinds import KNOWN_EVENTS
from shared.metrics import LATENCY_BUCKETS, NAMESPACE

# HTTP's own methods (RFC 9110 and PATCH); any other token a client sends is counted as "other":
# aiohttp's pure-Python parser accepts any method name, and each would be a series for good.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

# The outcome names of the metric, as an SRE reads them.
OUTCOME_LABELS = {
    WebhookOutcome.PUBLISHED: "accepted",
    WebhookOutcome.IGNORED: "ignored",
    WebhookOutcome.BAD_SIGNATURE: "unauthorized",
    WebhookOutcome.BAD_PAYLOAD: "invalid",
    WebhookOutcome.TOO_LARGE: "too_large",
    WebhookOutcome.TOO_SLOW: "too_slow",
    WebhookOutcome.BUSY: "busy",
    WebhookOutcome.ABANDONED: "abandoned",
    WebhookOutcome.PUBLISH_FAILED: "unavailable",
}


class PrometheusIngestObserver:
    """Records webhooks by event and outcome, publish latency and HTTP answers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "webhooks_received",
            "Clicksign webhooks received, by event name and outcome.",
            ["event_name", "outcome"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "publish_duration_seconds",
            "Time from publishing an event to the broker's confirm.",
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "http_requests",
            "HTTP answers of ingest, by method, route and status.",
            ["method", "route", "status"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.http_seconds = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for outcome in OUTCOME_LABELS.values():
            self.webhooks.labels(event_name="sign", outcome=outcome)

    def request_served(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        self.http_requests.labels(method=method, route=route, status=str(status)).inc()
        self.http_seconds.labels(route=route).observe(seconds)

    def webhook_handled(
        self, outcome: WebhookOutcome, event_name: str | None, publish_seconds: float | None
    ) -> None:
        name = (
            event_name
            if event_name in KNOWN_EVENTS
            else ("unknown" if event_name is None else "other")
        )
        self.webhooks.labels(event_name=name, outcome=OUTCOME_LABELS[outcome]).inc()
        if publish_seconds is not None:
            self.publish_seconds.observe(publish_seconds)
