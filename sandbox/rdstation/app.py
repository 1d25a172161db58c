"""`create_app`: one aiohttp application per sandbox, its parts under `SANDBOX_KEY`; the same
application plays Clicksign's API (`sandbox.clicksign_api`) on its own paths."""

from __future__ import annotations

from aiohttp import web

from sandbox.clicksign_api import ClicksignApiConfig, add_clicksign_api
from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.context import SANDBOX_KEY, Sandbox
from sandbox.rdstation.middlewares import API_MIDDLEWARES
from sandbox.rdstation.routes import add_routes
from sandbox.state_file import keep_state


def create_app(
    config: SandboxConfig | None = None, clicksign: ClicksignApiConfig | None = None
) -> web.Application:
    """The RD Station CRM v1 sandbox, with Clicksign's API, as an aiohttp application (also for
    aiohttp's test client)."""
    app = web.Application(middlewares=API_MIDDLEWARES)
    app[SANDBOX_KEY] = Sandbox.from_config(config or SandboxConfig())
    add_routes(app)
    add_clicksign_api(app, clicksign)
    app.on_shutdown.append(_release_hanging_requests)
    state_file = app[SANDBOX_KEY].config.state_file
    if state_file is not None:
        keep_state(app, state_file)
    return app


async def _release_hanging_requests(app: web.Application) -> None:
    # Without this, a request held by a hang fault would make shutdown wait for it.
    app[SANDBOX_KEY].faults.release_hangs()
