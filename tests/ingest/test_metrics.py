"""``GET /metrics`` on ingest moves as webhooks are answered."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sandbox.clicksign import build_webhook, signed_request
from services.ingest.metrics import PrometheusIngestObserver
from services.ingest.observer import WebhookOutcome
from services.ingest.routes import WEBHOOK_PATH
from tests.ingest.in_process import post_signed


async def samples(
    client: TestClient[Any, Any],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await client.get("/metrics")
    assert answer.status == 200
    assert answer.content_type == "text/plain"
    found = {}
    for family in text_string_to_metric_families(await answer.text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def webhooks(event_name: str, outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (
        "signdeal_webhooks_received_total",
        (("event_name", event_name), ("outcome", outcome)),
    )


async def test_each_outcome_is_counted_by_event_name(ingest_client: TestClient[Any, Any]) -> None:
    await post_signed(ingest_client, build_webhook("sign"))
    await post_signed(ingest_client, build_webhook("upload"))
    await post_signed(ingest_client, build_webhook("sign"), secret="wrong")
    payload = b"{not json"
    await ingest_client.post(
        WEBHOOK_PATH, data=payload, headers=signed_request(payload, "integration-secret-2f9c")
    )

    found = await samples(ingest_client)

    assert found[webhooks("sign", "accepted")] == 1
    assert found[webhooks("upload", "ignored")] == 1
    assert found[webhooks("unknown", "unauthorized")] == 1
    assert found[webhooks("unknown", "invalid")] == 1
    assert found[("signdeal_publish_duration_seconds_count", ())] == 1
    assert (
        found[
            (
                "signdeal_http_requests_total",
                (("method", "POST"), ("route", WEBHOOK_PATH), ("status", "202")),
            )
        ]
        == 1
    )


async def test_process_metrics_are_exported(ingest_client: TestClient[Any, Any]) -> None:
    names = {name for name, _ in await samples(ingest_client)}
    assert "process_resident_memory_bytes" in names
    assert any(name.startswith("python_info") for name in names)


def test_event_names_outside_clicksigns_list_share_one_label() -> None:
    registry = CollectorRegistry()
    observer = PrometheusIngestObserver(registry)
    for name in ("x1", "x2", "x3"):
        observer.webhook_handled(WebhookOutcome.IGNORED, name, None)
    assert (
        registry.get_sample_value(
            "signdeal_webhooks_received_total", {"event_name": "other", "outcome": "ignored"}
        )
        == 3
    )


def test_request_methods_outside_https_own_share_one_label() -> None:
    # aiohttp's pure-Python parser (AIOHTTP_NO_EXTENSIONS, or no C extension for the platform)
    # accepts any token as a method: an unsigned client must not add a series per request.
    registry = CollectorRegistry()
    observer = PrometheusIngestObserver(registry)
    for method in ("FOO1", "FOO2", "PROPFIND"):
        observer.request_served(method, "unmatched", 404, 0.001)
    observer.request_served("POST", WEBHOOK_PATH, 401, 0.001)

    def count(method: str, route: str, status: str) -> float | None:
        labels = {"method": method, "route": route, "status": status}
        return registry.get_sample_value("signdeal_http_requests_total", labels)

    assert count("other", "unmatched", "404") == 3
    assert count("FOO1", "unmatched", "404") is None
    assert count("POST", WEBHOOK_PATH, "401") == 1
