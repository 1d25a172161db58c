"""Connection details both services share."""

from __future__ import annotations

from yarl import URL

DEFAULT_HEARTBEAT_SECONDS = 10


def with_heartbeat(amqp_url: str, seconds: int = DEFAULT_HEARTBEAT_SECONDS) -> str:
    """Add ``heartbeat=`` unless the URL sets it: aiormq's 60 s default notices a dead peer after
    about three minutes; RabbitMQ recommends 5 to 20 seconds."""
    url = URL(amqp_url)
    if "heartbeat" in url.query:
        return amqp_url
    return str(url.update_query(heartbeat=seconds))
