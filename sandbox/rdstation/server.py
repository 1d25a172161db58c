"""`SandboxServer`: a sandbox on a real port for tests and tools (``async with``): RD Station's
API and Clicksign's."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from sandbox.clicksign_api import CLICKSIGN_SANDBOX_KEY, ClicksignApiConfig, ClicksignSandbox
from sandbox.rdstation.app import create_app
from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.context import SANDBOX_KEY, Sandbox
from sandbox.rdstation.faults import API_PREFIX, Faults
from sandbox.rdstation.state import SandboxState
from sandbox.requestlog import RequestLog
from sandbox.rolling_window import RollingWindowLimiter

SHUTDOWN_TIMEOUT_SECONDS = 2.0


class SandboxServer:
    """Serves a fresh sandbox on ``host``:``port`` (port 0 picks a free one).

    ``url`` is the base URL clients use (ending in ``/api/v1``); ``state``, ``faults``,
    ``limiter`` and ``requests`` are the live parts, for arranging and asserting in-process.
    Clicksign's API answers at ``clicksign_url`` with ``clicksign_token``; its parts are
    ``clicksign``.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clicksign: ClicksignApiConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config or SandboxConfig()
        self.clicksign_config = clicksign or ClicksignApiConfig()
        self.app = create_app(self.config, self.clicksign_config)
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> SandboxServer:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        """The RD base URL, e.g. ``http://127.0.0.1:8090/api/v1``."""
        return f"{self.root_url}{API_PREFIX}"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/__sandbox"

    @property
    def port(self) -> int:
        return self._port

    @property
    def token(self) -> str:
        return self.config.tokens[0]

    @property
    def sandbox(self) -> Sandbox:
        return self.app[SANDBOX_KEY]

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    @property
    def faults(self) -> Faults:
        return self.sandbox.faults

    @property
    def limiter(self) -> RollingWindowLimiter:
        return self.sandbox.limiter

    @property
    def requests(self) -> RequestLog:
        return self.sandbox.requests

    @property
    def clicksign_url(self) -> str:
        """Clicksign's API base URL (``CLICKSIGN_API_BASE_URL``): API 1.0 and 3.0 paths below."""
        return self.root_url

    @property
    def clicksign_token(self) -> str:
        return self.clicksign_config.tokens[0]

    @property
    def clicksign(self) -> ClicksignSandbox:
        return self.app[CLICKSIGN_SANDBOX_KEY]

    def reset(self) -> None:
        self.sandbox.reset()
        self.clicksign.reset()
