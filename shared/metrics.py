"""Prometheus plumbing both services share: one registry per application, and its endpoint.

Each application gets its own `CollectorRegistry` (tests build many apps in one process); the
process and platform collectors are added to it so ``GET /metrics`` also shows CPU, memory and
file descriptors.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

METRICS_PATH = "/metrics"
NAMESPACE = "signdeal"

# Seconds; from a fast confirm or RD answer up to a slow one near the timeouts.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def add_metrics_route(app: web.Application, registry: CollectorRegistry) -> None:
    """Serve ``registry`` in the Prometheus text format at ``GET /metrics``."""
    app.router.add_get(METRICS_PATH, make_aiohttp_handler(registry), name="metrics")
