"""`ClicksignSandbox`: the parts of the sandbox's Clicksign API, on the app under a key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sandbox.clicksign_api.config import ClicksignApiConfig
from sandbox.clicksign_api.faults import Faults
from sandbox.clicksign_api.state import ClicksignApiState
from sandbox.requestlog import RequestLog
from sandbox.rolling_window import RollingWindowLimiter

REQUEST_LOG_SIZE = 10_000


@dataclass
class ClicksignSandbox:
    config: ClicksignApiConfig
    state: ClicksignApiState
    faults: Faults
    limiter: RollingWindowLimiter
    requests: RequestLog

    @classmethod
    def from_config(cls, config: ClicksignApiConfig) -> ClicksignSandbox:
        limiter = RollingWindowLimiter(
            config.rate_limit, config.rate_limit_window_seconds, send_retry_after=True
        )
        return cls(config, ClicksignApiState(), Faults(), limiter, RequestLog(REQUEST_LOG_SIZE))

    def accepts(self, token: str | None) -> bool:
        return token is not None and token in self.config.tokens

    def reset(self) -> None:
        self.state.reset()
        self.faults.reset()
        self.limiter.reset()
        self.limiter.configure(self.config.rate_limit, self.config.rate_limit_window_seconds)
        self.requests.clear()


CLICKSIGN_SANDBOX_KEY = web.AppKey("clicksign_sandbox", ClicksignSandbox)
