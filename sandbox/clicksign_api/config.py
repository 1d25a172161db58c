"""How the sandbox's Clicksign API behaves: who may call it and how fast."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

DEFAULT_CLICKSIGN_TOKEN = "sandbox-clicksign-token"  # noqa: S105 - the sandbox's public demo token


class ClicksignApiConfig(BaseModel):
    """Behaviour of the Clicksign API the sandbox plays. Faults are runtime state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[str, ...] = Field(default=(DEFAULT_CLICKSIGN_TOKEN,), min_length=1)
    """Valid access tokens (``?access_token=`` for API 1.0, ``Authorization`` for API 3.0)."""
    rate_limit: PositiveInt | None = 20
    """Requests per token per window, as Clicksign's own sandbox; ``None`` turns it off."""
    rate_limit_window_seconds: PositiveFloat = 10.0
    access_log: bool = True
    """One log line per API request (never with the token)."""
    access_log_level: Literal["info", "debug"] = "info"
    """The level of those lines (see the RD sandbox's ``access_log_level``)."""
