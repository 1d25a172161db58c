"""OpenTelemetry tracing for both services, off unless the standard ``OTEL_*`` variables ask for it.

A trace starts at ingest's webhook (a SERVER span), goes through the publish (a PRODUCER span whose
context travels as the W3C ``traceparent`` AMQP header), continues in crm_writer (a CONSUMER span,
child of that remote context) and ends in the RD Station calls (CLIENT spans named by method and
path template: never a URL, so never the token or a query string).

Off (nothing configured) means no tracer provider is installed: every helper here returns after one
``is None`` check, no header is added and log lines get no ``trace_id``. Spans never record
exception events (their messages could carry secrets): a failed span gets ``error.type`` and a
redacted, bounded status description instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from shared.logging import get_logger, redact_text

if TYPE_CHECKING:
    from aio_pika.abc import AbstractIncomingMessage
    from opentelemetry.sdk.trace import TracerProvider

INSTRUMENTATION_NAME = "signdeal"
TRACEPARENT_HEADER = "traceparent"
SUPPORTED_EXPORTERS = ("otlp", "console")
_MAX_STATUS_TEXT = 200
# The OpenTelemetry variables docs/operations.md documents (the SDK reads a few more: OTEL_BSP_*,
# the per-signal OTLP variants); .env.example lists these, commented out.
OTEL_VARIABLES = frozenset(
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    }
)

_tracer: Tracer | None = None
_provider: TracerProvider | None = None

log = get_logger()


# -- set-up -------------------------------------------------------------------------------------


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when the ``OTEL_*`` variables ask for traces (empty values count as unset).

    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turn it off; otherwise an explicit
    ``OTEL_TRACES_EXPORTER`` or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turn it on.
    """
    env = os.environ if environ is None else environ
    if _env(env, "OTEL_SDK_DISABLED").lower() == "true":
        return False
    exporter = _env(env, "OTEL_TRACES_EXPORTER").lower()
    if exporter:
        return exporter != "none"
    return bool(
        _env(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def setup_tracing(service: str, environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install a tracer provider and exporter from the ``OTEL_*`` variables, or nothing at all.

    Call after `configure_logging`; call `shutdown_tracing` at exit to flush the last spans. The
    SDK itself reads the rest: ``OTEL_SERVICE_NAME`` (else ``service``),
    ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER[_ARG]``, ``OTEL_BSP_*`` and the
    ``OTEL_EXPORTER_OTLP_*`` endpoint, headers and timeout.
    """
    env = os.environ if environ is None else environ
    if not tracing_requested(env):
        return None
    # Imported here: a service without tracing never loads the SDK or an exporter.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter_name = _env(env, "OTEL_TRACES_EXPORTER").lower() or "otlp"
    names = [name.strip() for name in exporter_name.split(",") if name.strip()]
    unsupported = [name for name in names if name not in SUPPORTED_EXPORTERS]
    protocol = _env(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env(
        env, "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    if protocol and protocol != "http/protobuf" and "otlp" in names:
        unsupported.append(f"otlp over {protocol} (http/protobuf is used)")
    if unsupported:
        log.warning("tracing.exporter_unsupported", exporters=unsupported)
    attributes = {} if _env(env, "OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        if name in SUPPORTED_EXPORTERS:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    install(provider)
    log.info(
        "tracing.enabled",
        exporters=[name for name in names if name in SUPPORTED_EXPORTERS],
        endpoint=_env(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
        or None,
    )
    return provider


def install(provider: TracerProvider) -> None:
    """Trace through ``provider`` (tests hand in one with an in-memory exporter)."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer(INSTRUMENTATION_NAME)


def uninstall() -> None:
    """Back to off: the helpers do nothing again (tests only; the global provider stays)."""
    global _tracer, _provider
    _tracer = _provider = None


def shutdown_tracing() -> None:
    """Flush and stop the exporter; safe when tracing is off."""
    provider = _provider
    uninstall()
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


def _exporter(name: str) -> Any:
    if name == "console":
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: stdout carries the JSON log lines.
        return ConsoleSpanExporter(out=sys.stderr)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _env(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


# -- spans ----------------------------------------------------------------------------------------


@contextmanager
def server_span(method: str, route: str, path: str) -> Iterator[Span | None]:
    """ingest: the root of an event's trace, ``POST /webhooks/clicksign``.

    A caller's ``traceparent`` is not continued: the webhook comes from the internet, so the
    trace starts here.
    """
    tracer = _tracer
    if tracer is None:
        yield None
        return
    attributes = {"http.request.method": method, "http.route": route, "url.path": path}
    with _span(tracer, f"{method} {route}", SpanKind.SERVER, attributes, Context()) as span:
        yield span


@contextmanager
def publish_span(exchange: str, routing_key: str, message_id: str) -> Iterator[None]:
    """ingest: the publish and its confirm; `inject_context` inside it names this span as parent."""
    tracer = _tracer
    if tracer is None:
        yield
        return
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": exchange,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
    }
    with _span(tracer, f"publish {exchange}", SpanKind.PRODUCER, attributes):
        yield


def inject_context(headers: MutableMapping[str, Any]) -> None:
    """Add ``traceparent`` (and ``tracestate``/``baggage`` if any) for the current span."""
    if _tracer is not None:
        propagate.inject(headers)


@contextmanager
def consume_span(message: AbstractIncomingMessage, queue: str) -> Iterator[Span | None]:
    """crm_writer: one delivery, a child of the ``traceparent`` it carries (a new trace without)."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    carrier = {
        str(key): value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for key, value in (message.headers or {}).items()
        if isinstance(value, str | bytes)
    }
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
        "messaging.message.id": message.message_id or "",
        "messaging.message.conversation_id": message.correlation_id or "",
        "messaging.rabbitmq.redelivered": bool(message.redelivered),
    }
    context = propagate.extract(carrier)
    with _span(tracer, f"process {queue}", SpanKind.CONSUMER, attributes, context) as span:
        yield span


@contextmanager
def client_span(method: str, path_template: str, base_url: str) -> Iterator[Span | None]:
    """crm_writer: one RD Station request, named ``GET /deals/{id}`` (no query, no token)."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    attributes = {
        "http.request.method": method,
        "url.template": path_template,
        "server.address": urlsplit(base_url).hostname or "",
    }
    with _span(tracer, f"{method} {path_template}", SpanKind.CLIENT, attributes) as span:
        yield span


def record_http_status(span: Span | None, status: int | None, *, error_from: int) -> None:
    """``http.response.status_code`` on ``span`` (None: tracing is off); an error from
    ``error_from`` on (500 for the server span, 400 for a client span)."""
    if span is None or status is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= error_from:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))


def set_outcome(span: Span | None, outcome: str) -> None:
    """crm_writer: how the delivery ended (created, updated, duplicate, retried, parked, ...)."""
    if span is not None:
        span.set_attribute("signdeal.outcome", outcome)


def annotate_current(attributes: Mapping[str, str]) -> None:
    """``event_id``/``correlation_id``/``document_key`` on the current span, as ``signdeal.*``."""
    if _tracer is not None:
        span = trace.get_current_span()
        span.set_attributes({f"signdeal.{key}": value for key, value in attributes.items()})


@contextmanager
def _span(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    attributes: dict[str, Any],
    context: Context | None = None,
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            text = redact_text(str(exc))[:_MAX_STATUS_TEXT]
            span.set_status(Status(StatusCode.ERROR, text or type(exc).__qualname__))
            raise
