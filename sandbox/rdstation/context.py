"""`Sandbox`: the parts of one running sandbox, kept on the app under `SANDBOX_KEY`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sandbox.rdstation.config import SandboxConfig
from sandbox.rdstation.faults import Faults
from sandbox.rdstation.models import User
from sandbox.rdstation.state import SandboxState
from sandbox.requestlog import RecordedRequest, RequestLog
from sandbox.rolling_window import RollingWindowLimiter


@dataclass
class Sandbox:
    config: SandboxConfig
    state: SandboxState
    faults: Faults
    limiter: RollingWindowLimiter
    requests: RequestLog

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Sandbox:
        limiter = RollingWindowLimiter(
            config.rate_limit,
            config.rate_limit_window_seconds,
            send_retry_after=config.retry_after_header,
        )
        return cls(
            config=config,
            state=SandboxState(config.seed),
            faults=Faults(),
            limiter=limiter,
            requests=RequestLog(config.request_log_size),
        )

    def user_for_token(self, token: str | None) -> User | None:
        """Every configured token belongs to the seeded instance owner."""
        return self.state.owner if token in self.config.tokens else None

    def reset(self) -> None:
        """Back to a fresh sandbox: seeded data, no faults, empty logs, configured rate limit."""
        self.state.reset()
        self.faults.reset()
        self.limiter.reset()
        self.limiter.configure(
            self.config.rate_limit,
            self.config.rate_limit_window_seconds,
            self.config.retry_after_header,
        )
        self.requests.clear()


SANDBOX_KEY = web.AppKey("rd_sandbox", Sandbox)
TOKEN_KEY = web.RequestKey("rd_token", str)
USER_KEY = web.RequestKey("rd_user", User)
ARRIVED_KEY = web.RequestKey("rd_arrived_at", float)
RECORD_KEY = web.RequestKey("rd_record", RecordedRequest)
