"""How one sandbox instance behaves: who may call it, how fast, with which seed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's published demo token


class SandboxConfig(BaseModel):
    """Behaviour of one sandbox. Fault switches are runtime state, not configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[str, ...] = Field(default=(DEFAULT_TOKEN,), min_length=1)
    """Valid ``?token=`` values; all belong to the seeded instance owner."""
    seed: str = "signdeal"
    """Seed for the id factory: same seed, same ids."""
    rate_limit: PositiveInt | None = 120
    """Requests per token per rolling window; ``None`` turns the limit off."""
    rate_limit_window_seconds: PositiveFloat = 60.0
    retry_after_header: bool = False
    """Send ``Retry-After`` with 429s (RD v1 documents none)."""
    access_log: bool = True
    """One log line per API request (never with the token)."""
    access_log_level: Literal["info", "debug"] = "info"
    """The level of those lines: ``python -m sandbox.rdstation`` logs them at debug unless
    ``--log-requests`` (``make run VERBOSE=1``), so that they do not drown the services' lines."""
    request_log_size: PositiveInt = 10_000
    """How many API requests ``/__sandbox/requests`` remembers."""
    listing_cap: PositiveInt = 10_000
    """RD lists only the first 10,000 deals or contacts of a search."""
    state_file: Path | None = None
    """Where deals, contacts and Clicksign documents are kept across restarts
    (`sandbox.state_file`); None keeps them in memory only."""
