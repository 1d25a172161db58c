"""`add_clicksign_api`: the sandbox process also plays Clicksign's API (issue 12).

It shares the RD sandbox's application and port: RD's resources are under ``/api/v1`` with
``?token=``; Clicksign's are ``/api/v1/documents``, ``/api/v1/accounts`` (``?access_token=``)
and ``/api/v3/…`` (``Authorization``), which RD v1 does not have. `is_clicksign_path` tells them
apart for both sides' middlewares.
"""

from __future__ import annotations

from aiohttp import web

from sandbox.clicksign_api.config import ClicksignApiConfig
from sandbox.clicksign_api.context import CLICKSIGN_SANDBOX_KEY, ClicksignSandbox
from sandbox.clicksign_api.control import control_routes
from sandbox.clicksign_api.middlewares import clicksign_api
from sandbox.clicksign_api.views import api_routes


def add_clicksign_api(app: web.Application, config: ClicksignApiConfig | None = None) -> None:
    """Serve Clicksign's API (and its control routes) from ``app``, before it starts."""
    app[CLICKSIGN_SANDBOX_KEY] = ClicksignSandbox.from_config(config or ClicksignApiConfig())
    app.middlewares.append(clicksign_api)
    app.router.add_routes(api_routes())
    app.router.add_routes(control_routes())
