"""The ingest app against the real broker: what is answered, and what lands on the work queue."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aiohttp.test_utils import TestClient
from yarl import URL

from sandbox.clicksign import build_webhook, encode, make_signers, signed_request
from services.ingest.publisher import EventPublisher
from services.ingest.routes import WEBHOOK_PATH
from shared.events import SCHEMA_VERSION, SignedDocumentEvent, parse_clicksign_webhook
from shared.publishing import PublishFailed
from shared.topology import Topology, declare_events_exchange
from tests.clicksign_events import clicksign_event
from tests.ingest.in_process import (
    SECRET,
    make_settings,
    post_signed,
    running_ingest,
    wait_for_status,
)
from tests.plugins.broker import proxied_amqp_url
from tests.tcp_proxy import TcpProxy

WAIT_SECONDS = 20.0


async def drain(queue: AbstractQueue) -> list[AbstractIncomingMessage]:
    messages = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        messages.append(message)
    return messages


@pytest_asyncio.fixture
async def work_queue(
    ingest_client: TestClient[Any, Any],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
) -> AbstractQueue:
    """The work queue as crm_writer sees it, once ingest has declared it."""
    channel = await amqp_connection.channel()
    return await channel.declare_queue(topology.work_queue, passive=True)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_trigger_event_is_on_the_work_queue_once_with_documented_properties(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    body = build_webhook("sign", document_key="doc-42", occurred_at="2024-05-02T10:15:30.123-03:00")
    expected_id = parse_clicksign_webhook(encode(body)).event_id

    response = await post_signed(ingest_client, body, headers={"X-Request-ID": "req-abc-1"})

    assert response.status == 202
    assert await response.json() == {"event_id": expected_id}
    (message,) = await drain(work_queue)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.message_id == expected_id
    assert message.correlation_id == "req-abc-1"
    assert message.type == "sign"
    assert message.timestamp is not None
    assert message.headers["schema_version"] == SCHEMA_VERSION
    assert message.routing_key == "clicksign.document.sign"
    event = SignedDocumentEvent.from_json(message.body)
    assert event.event_id == expected_id
    assert event.document_key == "doc-42"
    assert event.correlation_id == "req-abc-1"
    assert event.raw == body


@pytest.mark.parametrize("event_name", ["sign", "auto_close", "close", "document_closed"])
async def test_every_default_trigger_event_is_published(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue, event_name: str
) -> None:
    response = await post_signed(ingest_client, build_webhook(event_name))

    assert response.status == 202
    assert [message.type for message in await drain(work_queue)] == [event_name]


async def test_request_id_is_echoed_and_becomes_the_correlation_id(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    response = await post_signed(
        ingest_client, build_webhook("sign"), headers={"X-Request-ID": "r-77"}
    )

    assert response.headers["X-Request-ID"] == "r-77"
    (message,) = await drain(work_queue)
    assert message.correlation_id == "r-77"


async def test_a_request_id_is_generated_when_none_is_sent(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    response = await post_signed(ingest_client, build_webhook("sign"))

    generated = response.headers["X-Request-ID"]
    assert generated
    (message,) = await drain(work_queue)
    assert message.correlation_id == generated


async def test_an_unusable_request_id_is_replaced(ingest_client: TestClient[Any, Any]) -> None:
    async with ingest_client.get("/healthz", headers={"X-Request-ID": "x" * 500}) as response:
        assert response.status == 200
        assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/nowhere"])
async def test_every_answer_echoes_the_request_id(
    ingest_client: TestClient[Any, Any], path: str
) -> None:
    async with ingest_client.get(path, headers={"X-Request-ID": "echo-me"}) as response:
        assert response.headers["X-Request-ID"] == "echo-me"


async def test_unknown_event_is_acknowledged_without_publishing(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    response = await post_signed(ingest_client, build_webhook("add_signer"))

    assert response.status == 200
    assert await response.json() == {"status": "ignored"}
    assert await drain(work_queue) == []


async def test_an_event_without_a_document_is_acknowledged_without_publishing(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    # Clicksign's WhatsApp acceptance terms carry an `acceptance` object and no document;
    # a 400 would make Clicksign count a failed delivery and send it again.
    body = {
        "event": {
            "name": "acceptance_term_sent",
            "data": {},
            "occurred_at": "2024-05-02T10:15:30Z",
        },
        "acceptance": {"key": "acc-1", "status": "sent"},
    }

    response = await post_signed(ingest_client, body)

    assert response.status == 200
    assert await response.json() == {"status": "ignored"}
    assert await drain(work_queue) == []


async def test_the_event_header_names_an_event_whose_body_has_no_name(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    response = await post_signed(
        ingest_client,
        {"acceptance": {"key": "acc-2"}},
        headers={"Event": "acceptance_term_completed"},
    )

    assert response.status == 200
    assert await drain(work_queue) == []


async def test_a_document_drawn_as_a_one_element_list_is_published(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    body = build_webhook("document_closed", document_key="doc-list")
    body["document"] = [body["document"]]

    response = await post_signed(ingest_client, body)

    assert response.status == 202
    [message] = await drain(work_queue)
    assert SignedDocumentEvent.from_json(message.body).document_key == "doc-list"


async def test_fields_of_unexpected_types_do_not_refuse_an_event(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    body = build_webhook("auto_close", document_key="doc-odd")
    body["document"].update(filename=20240502, status={"name": "closed"}, metadata=None)
    body["document"]["signers"][0]["name"] = ["not", "text"]
    body["document"]["brand_new_field"] = {"nested": [1, 2, 3]}

    response = await post_signed(ingest_client, body)

    assert response.status == 202
    [message] = await drain(work_queue)
    event = SignedDocumentEvent.from_json(message.body)
    assert event.document.filename == "20240502"
    assert event.document.status is None
    assert event.signers[0].name is None


async def test_the_body_event_name_wins_over_the_event_header(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    response = await post_signed(ingest_client, build_webhook("sign"), headers={"Event": "upload"})

    assert response.status == 202
    assert [message.type for message in await drain(work_queue)] == ["sign"]


async def test_wrong_signature_is_rejected_without_publishing(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    response = await post_signed(ingest_client, build_webhook("sign"), secret="not-the-secret")

    assert response.status == 401
    assert "error" in await response.json()
    assert await drain(work_queue) == []


async def test_missing_signature_is_rejected_without_publishing(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    payload = encode(build_webhook("sign"))

    response = await ingest_client.post(
        WEBHOOK_PATH, data=payload, headers={"Content-Type": "application/json"}
    )

    assert response.status == 401
    assert await drain(work_queue) == []


async def test_body_changed_after_signing_is_rejected(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    payload = encode(build_webhook("sign", document_key="doc-1"))
    headers = signed_request(payload, SECRET)

    response = await ingest_client.post(
        WEBHOOK_PATH, data=payload.replace(b"doc-1", b"doc-2"), headers=headers
    )

    assert response.status == 401
    assert await drain(work_queue) == []


async def test_either_rotated_secret_is_accepted(
    amqp_url: str, topology: Topology, amqp_connection: AbstractRobustConnection
) -> None:
    settings = make_settings(amqp_url, clicksign_webhook_secret="old-one-123,new-one-456")
    async with running_ingest(settings, topology) as test_client:
        for secret in ("old-one-123", "new-one-456"):
            response = await post_signed(test_client, build_webhook("sign"), secret=secret)
            assert response.status == 202


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event": {"name": "sign"}}', "document"),
        (b'{"event": {"name": "sign"}, "document": {"filename": "a.pdf"}}', "document.key"),
        (b'{"id": 7, "status": "paid"}', "no Event header"),
        (b'{"event": {"data": null}}', "missing 'event.name'"),
        (b'{"event": {"name": "sign"}, "document": [{"key": "a"}, {"key": "b"}]}', "list of 2"),
        (b'{"event": {"name": "sign"}, "x": ' + b"[" * 40 + b"]" * 40 + b"}", "nests deeper"),
        (b'{"event": {"name": "sign"}, "x": ' + b"[" * 400 + b"]" * 400 + b"}", "nests deeper"),
    ],
)
async def test_bad_bodies_are_rejected_with_a_short_reason(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue, payload: bytes, reason: str
) -> None:
    response = await post_signed(ingest_client, payload)

    assert response.status == 400
    assert reason in (await response.json())["error"]
    assert await drain(work_queue) == []


async def test_oversized_body_is_rejected(
    amqp_url: str, topology: Topology, amqp_connection: AbstractRobustConnection
) -> None:
    settings = make_settings(amqp_url, ingest_max_body_bytes=4096)
    body = build_webhook("sign", filename="x" * 5000 + ".pdf")
    async with running_ingest(settings, topology) as test_client:
        response = await post_signed(test_client, body)

        assert response.status == 413
        assert "error" in await response.json()


async def test_oversized_chunked_body_is_rejected(
    amqp_url: str, topology: Topology, amqp_connection: AbstractRobustConnection
) -> None:
    settings = make_settings(amqp_url, ingest_max_body_bytes=4096)
    payload = encode(build_webhook("sign", filename="y" * 5000 + ".pdf"))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 1024):
            yield payload[start : start + 1024]

    async with running_ingest(settings, topology) as test_client:
        response = await test_client.post(
            WEBHOOK_PATH, data=chunks(), headers=signed_request(payload, SECRET)
        )

        assert response.status == 413


def in_chunks(payload: bytes, size: int = 1024) -> AsyncIterator[bytes]:
    """``payload`` as a streamed body: sent chunked, without a Content-Length header."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), size):
            yield payload[start : start + size]

    return chunks()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(
    amqp_url: str, topology: Topology, amqp_connection: AbstractRobustConnection, chunked: bool
) -> None:
    at_limit = encode(build_webhook("sign"))
    one_byte_more = at_limit + b" "  # still valid JSON, signed: only its size is wrong
    settings = make_settings(amqp_url, ingest_max_body_bytes=len(at_limit))
    answers = []
    async with running_ingest(settings, topology) as test_client:
        for payload in (at_limit, one_byte_more):
            data = in_chunks(payload) if chunked else payload
            response = await test_client.post(
                WEBHOOK_PATH, data=data, headers=signed_request(payload, SECRET)
            )
            assert ("Content-Length" in response.request_info.headers) is not chunked
            answers.append(response.status)

    assert answers == [202, 413]


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"[1, 2]", b'{"event": {"name": "sign"}}', b"\xff\xfe"],
    ids=["not-json", "not-an-object", "no-document", "not-utf8"],
)
@pytest.mark.parametrize(
    "signature", [None, "sha256=" + "0" * 64, "md5=abc"], ids=["unsigned", "wrong", "malformed"]
)
async def test_a_malformed_body_without_a_valid_signature_is_401_not_400(
    ingest_client: TestClient[Any, Any],
    work_queue: AbstractQueue,
    payload: bytes,
    signature: str | None,
) -> None:
    # Nothing of an unsigned body is parsed: parsing is attack surface, and a 400 would tell the
    # sender the body was read.
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Content-Hmac"] = signature

    response = await ingest_client.post(WEBHOOK_PATH, data=payload, headers=headers)

    assert response.status == 401
    assert "Content-Hmac" in (await response.json())["error"]
    assert await drain(work_queue) == []


async def test_health_is_always_ok(ingest_client: TestClient[Any, Any]) -> None:
    async with ingest_client.get("/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_duplicate_concurrent_deliveries_are_each_confirmed(
    ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    body = build_webhook("sign")

    first, second = await asyncio.gather(
        post_signed(ingest_client, body), post_signed(ingest_client, body)
    )

    assert (first.status, second.status) == (202, 202)
    messages = await drain(work_queue)
    assert len(messages) == 2
    assert len({message.message_id for message in messages}) == 1


async def test_missing_work_queue_makes_the_event_unroutable_and_answers_503(
    ingest_client: TestClient[Any, Any],
    amqp_connection: AbstractRobustConnection,
    topology: Topology,
) -> None:
    channel = await amqp_connection.channel()
    await channel.queue_delete(topology.work_queue, if_unused=False, if_empty=False)

    response = await post_signed(ingest_client, build_webhook("sign"))

    assert response.status == 503
    assert "error" in await response.json()


async def test_publisher_reports_an_unroutable_event(
    amqp_connection: AbstractRobustConnection, topology: Topology
) -> None:
    channel = await amqp_connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = await declare_events_exchange(channel, topology)

    class ExchangeWithoutBindings:
        is_connected = True
        events_exchange = exchange

    publisher = EventPublisher(ExchangeWithoutBindings(), timeout_seconds=5)

    with pytest.raises(PublishFailed, match="unroutable"):
        await publisher.publish(clicksign_event("sign", signers=make_signers(2)))


async def test_publisher_refuses_a_channel_without_return_errors(
    amqp_connection: AbstractRobustConnection, topology: Topology
) -> None:
    channel = await amqp_connection.channel(publisher_confirms=True, on_return_raises=False)
    exchange = await declare_events_exchange(channel, topology)

    class LenientChannel:
        is_connected = True
        events_exchange = exchange

    publisher = EventPublisher(LenientChannel(), timeout_seconds=5)

    with pytest.raises(PublishFailed):
        await publisher.publish(clicksign_event("sign", signers=make_signers(2)))


async def test_no_confirm_in_time_answers_503(
    amqp_url: str, topology: Topology, amqp_connection: AbstractRobustConnection
) -> None:
    settings = make_settings(amqp_url, ingest_publish_timeout_seconds=0.000001)
    async with running_ingest(settings, topology) as test_client:
        response = await post_signed(test_client, build_webhook("sign"))

        assert response.status == 503


def with_fast_reconnect(url: str) -> str:
    return str(URL(url).update_query(reconnect_interval="0.5"))


async def test_broker_outage_answers_503_then_recovers_without_restart(
    amqp_url: str,
    topology: Topology,
    broker_proxy: TcpProxy,
    amqp_connection: AbstractRobustConnection,
) -> None:
    settings = make_settings(with_fast_reconnect(proxied_amqp_url(amqp_url, broker_proxy)))
    async with running_ingest(settings, topology) as test_client:
        channel = await amqp_connection.channel()
        queue = await channel.declare_queue(topology.work_queue, passive=True)

        broker_proxy.refuse()
        await wait_for_status(test_client, "/readyz", 503)
        during = await post_signed(test_client, build_webhook("sign"))

        assert during.status == 503
        assert await drain(queue) == []

        broker_proxy.restore()
        await wait_for_status(test_client, "/readyz", 200)
        after = await post_signed(test_client, build_webhook("sign"))

        assert after.status == 202
        assert len(await drain(queue)) == 1


async def test_service_starts_while_the_broker_is_down_and_becomes_ready(
    amqp_url: str,
    topology: Topology,
    broker_proxy: TcpProxy,
    amqp_connection: AbstractRobustConnection,
) -> None:
    broker_proxy.refuse()
    settings = make_settings(with_fast_reconnect(proxied_amqp_url(amqp_url, broker_proxy)))
    async with running_ingest(settings, topology, wait_ready=False) as test_client:
        async with test_client.get("/healthz") as health:
            assert health.status == 200
        async with test_client.get("/readyz") as ready:
            assert ready.status == 503
        early = await post_signed(test_client, build_webhook("sign"))
        assert early.status == 503

        broker_proxy.restore()
        await wait_for_status(test_client, "/readyz", 200)
        late = await post_signed(test_client, build_webhook("sign"))

        assert late.status == 202
        channel = await amqp_connection.channel()
        queue = await channel.declare_queue(topology.work_queue, passive=True)
        assert len(await drain(queue)) == 1


async def test_event_log_lines_carry_the_event_context(
    ingest_debug_log: io.StringIO, ingest_client: TestClient[Any, Any], work_queue: AbstractQueue
) -> None:
    body = build_webhook("sign", document_key="doc-logged")

    response = await post_signed(ingest_client, body, headers={"X-Request-ID": "req-log-1"})

    event_id = (await response.json())["event_id"]
    lines = {line["event"]: line for line in parsed(ingest_debug_log)}
    for name in ("webhook.received", "event.published"):
        assert lines[name]["event_id"] == event_id
        assert lines[name]["correlation_id"] == "req-log-1"
        assert lines[name]["document_key"] == "doc-logged"
        assert lines[name]["service"] == "ingest"


async def test_one_info_line_per_webhook_answer_carries_status_and_duration(
    ingest_log: io.StringIO, ingest_client: TestClient[Any, Any]
) -> None:
    payload = encode(build_webhook("sign"))
    response = await ingest_client.post(
        WEBHOOK_PATH, data=payload, headers=signed_request(payload, SECRET)
    )
    assert response.status == 202

    request_id = response.headers["X-Request-ID"]
    lines = [line for line in parsed(ingest_log) if line.get("correlation_id") == request_id]
    # webhook.received is at DEBUG: the answer's line says the same (one INFO line per webhook).
    assert [line["event"] for line in lines] == ["event.published"]
    published = lines[-1]
    assert published["status"] == 202
    assert published["duration_ms"] >= published["confirm_ms"]
    assert published["remote"] == "127.0.0.1"


async def test_access_log_at_debug_has_no_query_string(
    ingest_debug_log: io.StringIO, ingest_client: TestClient[Any, Any]
) -> None:
    payload = encode(build_webhook("sign"))
    response = await ingest_client.post(
        f"{WEBHOOK_PATH}?token=query-secret&x=1",
        data=payload,
        headers=signed_request(payload, SECRET),
    )
    assert response.status == 202

    access = [line for line in parsed(ingest_debug_log) if line["event"] == "http.request"]
    assert access[-1]["level"] == "debug"
    assert access[-1]["path"] == WEBHOOK_PATH
    assert access[-1]["method"] == "POST"
    assert access[-1]["status"] == 202
    assert access[-1]["outcome"] == "published"
    assert "duration_ms" in access[-1]
    assert "remote" in access[-1]
    assert "query-secret" not in ingest_debug_log.getvalue()


async def test_answers_without_a_webhook_line_keep_their_info_access_line(
    ingest_log: io.StringIO, ingest_client: TestClient[Any, Any]
) -> None:
    async with ingest_client.get("/no-such-page") as response:
        assert response.status == 404

    access = [line for line in parsed(ingest_log) if line["event"] == "http.request"]
    assert access[-1]["status"] == 404
    assert access[-1]["level"] == "info"


async def test_healthy_probes_stay_out_of_the_info_log(
    ingest_log: io.StringIO, ingest_client: TestClient[Any, Any]
) -> None:
    async with ingest_client.get("/healthz") as response:
        assert response.status == 200

    access = [line for line in parsed(ingest_log) if line["event"] == "http.request"]
    assert not [line for line in access if line["path"] == "/healthz"]


async def test_rejections_are_logged_without_the_secret(
    ingest_log: io.StringIO, ingest_client: TestClient[Any, Any]
) -> None:
    await post_signed(ingest_client, build_webhook("sign"), secret="wrong-secret")

    rejected = [line for line in parsed(ingest_log) if line["event"] == "webhook.rejected"]
    assert rejected[0]["status"] == 401
    assert SECRET not in ingest_log.getvalue()
