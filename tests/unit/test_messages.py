"""The AMQP message ingest publishes, and the broker URL it connects with (no broker needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
from yarl import URL

from sandbox.clicksign import make_signers
from shared.amqp import with_heartbeat
from shared.events import SCHEMA_VERSION, SignedDocumentEvent
from shared.messages import build_message
from tests.clicksign_events import clicksign_event

RECEIVED_AT = datetime(2024, 5, 2, 13, 15, 30, tzinfo=UTC)


def sample_event() -> SignedDocumentEvent:
    return clicksign_event(
        "auto_close",
        "doc-7",
        make_signers(2),
        correlation_id="req-7",
        received_at=RECEIVED_AT,
    )


def test_message_has_the_documented_properties() -> None:
    event = sample_event()

    message = build_message(event)

    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.message_id == event.event_id
    assert message.correlation_id == "req-7"
    assert message.type == "auto_close"
    assert message.timestamp == RECEIVED_AT
    assert message.headers == {"schema_version": SCHEMA_VERSION}


def test_message_body_is_the_wire_event() -> None:
    event = sample_event()

    assert SignedDocumentEvent.from_json(build_message(event).body) == event


def test_heartbeat_is_added_when_the_url_has_none() -> None:
    url = URL(with_heartbeat("amqp://guest:guest@rabbit:5672/"))

    assert url.query["heartbeat"] == "10"
    assert (url.host, url.port, url.user, url.password) == ("rabbit", 5672, "guest", "guest")


def test_heartbeat_in_the_url_is_kept() -> None:
    url = "amqp://guest:guest@rabbit:5672/?heartbeat=30&name=ingest"

    assert with_heartbeat(url) == url
