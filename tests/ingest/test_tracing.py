"""Tracing: one webhook is one trace across ingest, the broker, crm_writer and RD (issue 6).

Both services run in this process against the real broker and the RD sandbox, with an in-memory
span exporter in place of the OTLP one `setup_tracing` would install from ``OTEL_*`` variables.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aio_pika.abc import AbstractChannel
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sandbox.clicksign import build_webhook
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.consumer import DealConsumer
from services.crm_writer.rdstation import RdRateLimiter, RdStationClient, RdStationError
from services.crm_writer.store import EventStatus, Store
from shared import tracing
from shared.messages import build_message
from shared.topology import Topology
from tests.clicksign_events import clicksign_event
from tests.ingest.in_process import make_settings, post_signed, running_ingest

ROOT = Path(__file__).parents[2]
WAIT_SECONDS = 20.0


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


async def until_finished(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    async with asyncio.timeout(WAIT_SECONDS):
        while not any(span.kind is kind for span in exporter.get_finished_spans()):
            await asyncio.sleep(0.05)
    return list(exporter.get_finished_spans())


def one(spans: list[ReadableSpan], kind: SpanKind) -> ReadableSpan:
    found = [span for span in spans if span.kind is kind]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_one_webhook_is_one_trace_from_ingest_to_rd(
    spans: InMemorySpanExporter,
    crm_writer_log: io.StringIO,
    consumer: DealConsumer,
    amqp_url: str,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
) -> None:
    body = build_webhook("sign", document_key=f"doc-{uuid.uuid4().hex[:8]}")
    async with running_ingest(make_settings(amqp_url), topology) as client:
        response = await post_signed(client, body)
        assert response.status == 202
        event_id = (await response.json())["event_id"]
        finished = await until_finished(spans, SpanKind.CONSUMER)

    record = await sqlite_store.get_event(event_id)
    assert record is not None and record.status == EventStatus.DONE
    server = one(finished, SpanKind.SERVER)
    producer = one(finished, SpanKind.PRODUCER)
    consumed = one(finished, SpanKind.CONSUMER)
    rd_calls = [span for span in finished if span.kind is SpanKind.CLIENT]

    # ingest: the webhook starts the trace; the publish is its child
    assert server.name == "POST /webhooks/clicksign"
    assert server.parent is None
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 202
    assert server.attributes["signdeal.event_id"] == event_id
    assert producer.parent is not None and producer.parent.span_id == server.context.span_id
    # crm_writer continues it from the traceparent header
    assert consumed.parent is not None and consumed.parent.is_remote
    assert consumed.parent.span_id == producer.context.span_id
    assert consumed.attributes is not None
    assert consumed.attributes["signdeal.outcome"] == "created"
    assert consumed.attributes["messaging.message.id"] == event_id
    # every RD call is a child span named by method and path template
    assert rd_calls
    assert {span.name for span in rd_calls} >= {"GET /contacts", "POST /contacts", "POST /deals"}
    for span in rd_calls:
        assert span.parent is not None and span.parent.span_id == consumed.context.span_id
    assert {span.context.trace_id for span in finished} == {server.context.trace_id}

    # the token is nowhere in a span
    for span in finished:
        assert rd.token not in span.to_json()
        assert "token" not in str(dict(span.attributes or {})).lower()

    # log lines written inside a span carry its ids
    trace_id = format(server.context.trace_id, "032x")
    lines = {line["event"]: line for line in parsed(crm_writer_log)}
    assert lines["event.published"]["trace_id"] == trace_id
    assert lines["event.published"]["span_id"] == format(server.context.span_id, "016x")
    assert lines["event.consumed"]["trace_id"] == trace_id
    assert lines["event.consumed"]["span_id"] == format(consumed.context.span_id, "016x")
    assert lines["event.processed"]["trace_id"] == trace_id


async def test_with_tracing_off_nothing_is_traced_nor_added(
    crm_writer_log: io.StringIO,
    topology: Topology,
    channel: AbstractChannel,
    amqp_url: str,
) -> None:
    assert tracing.setup_tracing("ingest", environ={}) is None
    assert not tracing.enabled()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

    message = build_message(clicksign_event("sign", "doc-off"))
    assert message.headers == {"schema_version": message.headers["schema_version"]}

    async with running_ingest(make_settings(amqp_url), topology) as client:
        response = await post_signed(client, build_webhook("sign"))
        assert response.status == 202
    queue = await channel.declare_queue(topology.work_queue, passive=True)
    delivered = await queue.get(no_ack=True, fail=False)
    assert delivered is not None
    assert "traceparent" not in (delivered.headers or {})
    assert all("trace_id" not in line for line in parsed(crm_writer_log))


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_which_variables_turn_tracing_on(environ: dict[str, str], requested: bool) -> None:
    assert tracing.tracing_requested(environ) is requested


def test_setup_from_the_environment_installs_a_provider_and_exports() -> None:
    """In a process of its own: the global tracer provider can be set only once per process."""
    script = (
        "from shared import tracing\n"
        "from shared.logging import configure_logging, get_logger\n"
        "configure_logging('ingest')\n"
        "assert tracing.setup_tracing('ingest') is not None\n"
        "with tracing.server_span('POST', '/webhooks/clicksign', '/webhooks/clicksign'):\n"
        "    get_logger().info('webhook.received')\n"
        "tracing.shutdown_tracing()\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "ingest-test"})
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["tracing.enabled", "webhook.received"]
    assert len(lines[1]["trace_id"]) == 32
    exported = orjson.loads(done.stderr)
    assert exported["name"] == "POST /webhooks/clicksign"
    assert exported["context"]["trace_id"] == "0x" + lines[1]["trace_id"]
    assert exported["resource"]["attributes"]["service.name"] == "ingest-test"


async def test_a_failed_rd_call_is_an_error_span_without_the_token(
    spans: InMemorySpanExporter, rd: SandboxServer
) -> None:
    async with aiohttp.ClientSession() as session:
        client = RdStationClient(session, rd.url, rd.token, RdRateLimiter(60_000), 2.0)
        with pytest.raises(RdStationError):
            await client.get_deal("000000000000000000000000")

    (span,) = spans.get_finished_spans()
    assert span.name == "GET /deals/{id}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["error.type"] == "RdStationNotFound"
    assert not span.events
    assert rd.token not in span.to_json()
