"""Typed keys for what ingest keeps on the application and on each request."""

from __future__ import annotations

from aiohttp import web

from services.ingest.body import BodyGate
from services.ingest.broker import BrokerLink
from services.ingest.observer import IngestObserver, WebhookOutcome
from services.ingest.publisher import EventPublisher
from services.ingest.settings import IngestSettings

SETTINGS = web.AppKey("settings", IngestSettings)
# At most INGEST_MAX_CONCURRENT_BODIES webhook bodies are read at once (services/ingest/body.py).
BODY_GATE = web.AppKey("body_gate", BodyGate)
BROKER = web.AppKey("broker", BrokerLink)
PUBLISHER = web.AppKey("publisher", EventPublisher)
OBSERVER = web.AppKey[IngestObserver]("observer")

CORRELATION_ID = web.RequestKey("correlation_id", str)
# When the access-log middleware saw the request (time.perf_counter()).
REQUEST_STARTED = web.RequestKey("request_started", float)
# What the webhook view decided; the access log and, later, metrics read it.
WEBHOOK_OUTCOME = web.RequestKey("webhook_outcome", WebhookOutcome)
