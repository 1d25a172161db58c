"""Typed keys for what ingest keeps on the application and on each request."""

from __future__ import annotations

from aiohttp import web

from services.ingest.body import BodyGate
from services.ingest.broker import BrokerLink
from services.ingest.observer import IngestObserver, WebhookOutcome
from services.ingest.publisher import EventPublisher
from services.ingest.settings import IngestSettings

settings_key = web.AppKey("settings", IngestSettings)
# At most INGEST_MAX_CONCURRENT_BODIES webhook bodies are read at once (services/ingest/body.py).
body_gate_key = web.AppKey("body_gate", BodyGate)
broker_key = web.AppKey("broker", BrokerLink)
publisher_key = web.AppKey("publisher", EventPublisher)
observer_key = web.AppKey[IngestObserver]("observer")

correlation_id_key = web.RequestKey("correlation_id", str)
# When the access-log middleware saw the request (time.perf_counter()).
request_started_key = web.RequestKey("request_started", float)
# What the webhook view decided; the access log and, later, metrics read it.
webhook_outcome_key = web.RequestKey("webhook_outcome", WebhookOutcome)
