"""The URL map of ingest (docs/architecture.md, "Endpoints")."""

from __future__ import annotations

from aiohttp import web

from services.ingest import views

WEBHOOK_PATH = "/webhooks/clicksign"


def setup_routes(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, views.receive_clicksign_webhook, name="clicksign_webhook")
    app.router.add_get("/healthz", views.healthz, name="healthz")
    app.router.add_get("/readyz", views.readyz, name="readyz")
