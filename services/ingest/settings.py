"""What ingest reads from the environment, on top of `ServiceSettings`."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode
from yarl import URL

from shared.event_kinds import DEFAULT_TRIGGER_EVENTS
from shared.logging import register_secret
from shared.settings import ServiceSettings


def split_comma_list(value: object) -> tuple[str, ...]:
    """``"a, b,,c"`` → ``("a", "b", "c")``; lists pass through with blanks dropped."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise ValueError("must be a comma-separated list")
    return tuple(text for item in items if (text := str(item).strip()))


class IngestSettings(ServiceSettings):
    """Environment of ``python -m services.ingest`` (docs/architecture.md, "Environment
    variables")."""

    ingest_host: str = "0.0.0.0"  # noqa: S104 - a container's service listens on every interface
    ingest_port: int = Field(default=8080, ge=0, le=65535)
    clicksign_webhook_secret: Annotated[tuple[SecretStr, ...], NoDecode]
    clicksign_trigger_events: Annotated[frozenset[str], NoDecode] = frozenset(
        DEFAULT_TRIGGER_EVENTS
    )
    # Clicksign's webhooks weigh a few KB (docs/clicksign.md); 1 MiB leaves room for a document
    # with a long event history while bounding what unsigned clients can make ingest hold.
    ingest_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # A body not received within this is answered 408 and its connection closed (slow clients).
    ingest_body_timeout_seconds: float = Field(default=5.0, gt=0)
    # Bodies read at once; past that a webhook waits a moment, then gets 503 (Clicksign retries).
    ingest_max_concurrent_bodies: int = Field(default=32, ge=1)
    # Idle keep-alive connections, and clients that trickle their headers, are closed after this.
    ingest_keepalive_timeout_seconds: float = Field(default=5.0, gt=0)
    ingest_publish_timeout_seconds: float = Field(default=10.0, gt=0)
    ingest_shutdown_timeout_seconds: float = Field(default=20.0, ge=0)

    @field_validator("clicksign_webhook_secret", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        secrets = split_comma_list(value)
        if not secrets:
            raise ValueError("must contain at least one secret")
        return secrets

    @field_validator("clicksign_trigger_events", mode="before")
    @classmethod
    def _split_events(cls, value: object) -> frozenset[str]:
        events = frozenset(split_comma_list(value))
        if not events:
            raise ValueError("must name at least one Clicksign event")
        return events

    @cached_property
    def webhook_secrets(self) -> tuple[str, ...]:
        """Every secret a webhook may be signed with (more than one while rotating); asked for
        on every webhook, unwrapped once."""
        return tuple(secret.get_secret_value() for secret in self.clicksign_webhook_secret)

    def register_secrets(self) -> None:
        """Mask the webhook secrets and the broker password in every log line."""
        for secret in self.webhook_secrets:
            register_secret(secret)
        register_secret(URL(self.amqp_url).password)
