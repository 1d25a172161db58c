"""Prometheus metrics of crm_writer: a `CrmWriterObserver` that counts, times and measures."""

from __future__ import annotations

import math
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.crm_writer.backlog import STUCK_AFTER_SECONDS
from services.crm_writer.observer import MessageOutcome, PurgedKind, QueueRole
from shared.metrics import LATENCY_BUCKETS, NAMESPACE

# Seconds; one event is a few RD calls paced by the rate limiter, plus a document lock wait.
PROCESSING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Seconds; zero when the limiter has room, up to minutes behind a burst or a 429 pause.
RATE_LIMIT_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def status_class(status: int | None) -> str:
    """``2xx``, ``4xx``, ``5xx``…, or ``error`` when RD gave no answer (timeout, connection)."""
    return "error" if status is None else f"{status // 100}xx"


class PrometheusCrmWriterObserver:
    """Records deliveries by outcome, RD requests, rate-limiter waits, the backlog and purges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "messages_consumed",
            "Deliveries from the work queue, by what became of them.",
            ["outcome"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "event_processing_duration_seconds",
            "Time from a delivery's arrival to its ack or reject, by outcome.",
            ["outcome"],
            namespace=NAMESPACE,
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.rd_requests = Counter(
            "rd_requests",
            "Requests to RD Station CRM, by method, endpoint template and status class.",
            ["method", "endpoint", "status_class"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.rd_seconds = Histogram(
            "rd_request_duration_seconds",
            "Time RD Station CRM took to answer (or to fail), by method and endpoint template.",
            ["method", "endpoint"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rate_limit_wait = Histogram(
            "rd_rate_limit_wait_seconds",
            "Time an RD request waited for the client-side rate limiter.",
            namespace=NAMESPACE,
            buckets=RATE_LIMIT_WAIT_BUCKETS,
            registry=registry,
        )
        self.queue_messages = Gauge(
            "queue_messages",
            "Messages ready in a queue (deliveries in hand not counted), as the broker reports.",
            ["queue", "role"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.oldest_age = Gauge(
            "oldest_unprocessed_event_age_seconds",
            "Age of the oldest event received but not yet done or parked (0 if none, NaN if "
            "the store cannot say).",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.stuck = Gauge(
            "events_stuck_processing",
            "Events still 'processing' from an attempt that began more than "
            f"{STUCK_AFTER_SECONDS // 60} minutes ago: nobody finished them (NaN if the store "
            "cannot say).",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.purged = Counter(
            "history_purged_rows",
            "History rows the retention task removed (HISTORY_RETENTION_DAYS): events, e-mail → "
            "contact rows, and deal names cleared from document → deal rows.",
            ["kind"],
            namespace=NAMESPACE,
            registry=registry,
        )
        for outcome in MessageOutcome:
            self.messages.labels(outcome=outcome.value)
        for kind in PurgedKind:
            self.purged.labels(kind=kind.value)

    def message_handled(self, outcome: MessageOutcome, seconds: float) -> None:
        self.messages.labels(outcome=outcome.value).inc()
        self.processing_seconds.labels(outcome=outcome.value).observe(seconds)

    def rd_request(self, method: str, endpoint: str, status: int | None, seconds: float) -> None:
        self.rd_requests.labels(
            method=method, endpoint=endpoint, status_class=status_class(status)
        ).inc()
        self.rd_seconds.labels(method=method, endpoint=endpoint).observe(seconds)

    def rate_limit_waited(self, seconds: float) -> None:
        self.rate_limit_wait.observe(seconds)

    def queue_depths(self, depths: Mapping[str, tuple[QueueRole, int]]) -> None:
        for queue, (role, count) in depths.items():
            self.queue_messages.labels(queue=queue, role=role.value).set(count)

    def queue_depths_unknown(self) -> None:
        self.queue_messages.clear()

    def oldest_unprocessed_age(self, seconds: float | None) -> None:
        self.oldest_age.set(math.nan if seconds is None else seconds)

    def stuck_processing(self, count: int | None) -> None:
        self.stuck.set(math.nan if count is None else count)

    def history_purged(self, kind: PurgedKind, rows: int) -> None:
        self.purged.labels(kind=kind.value).inc(rows)
