"""Structured logging for both services: JSON lines an SRE can follow event by event.

Every line carries ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` (a dotted name) and
``service``; lines about a Clicksign event also carry ``event_id``, ``correlation_id`` and
``document_key``, bound with `bind_event_context`; with tracing on (`shared.tracing`), lines
written inside a span carry its ``trace_id`` and ``span_id``. Secrets never reach the output: the
redaction processor masks secret-looking keys, ``token=`` query parameters, passwords in URLs and
every literal value registered with `register_secret`, in our lines, in library lines and in
tracebacks.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(^|_|-)(token|secret|secrets|password|passwd|authorization|api_key|apikey|hmac_secret)$",
    re.IGNORECASE,
)
_TOKEN_IN_QUERY = re.compile(
    r"(?P<name>(?<![A-Za-z0-9])(?:access_)?token=)(?P<value>[^&\s\"'#]+)", re.IGNORECASE
)
_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s/]+)(?=@)")

_registered_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this literal value wherever it would appear in a log line."""
    if value and len(value) >= 4:
        _registered_secrets.add(value)


def forget_registered_secrets() -> None:
    """Tests only: start again with no registered secrets."""
    _registered_secrets.clear()


def redact_text(text: str) -> str:
    """Mask ``token=`` query values, URL passwords and registered secrets inside a string."""
    # Most values hold neither an '=' nor a '://': skip the regexes for them (every log line
    # passes through here, so this is a visible share of a webhook's CPU).
    if "=" in text:
        text = _TOKEN_IN_QUERY.sub(lambda m: m.group("name") + REDACTED, text)
    if "://" in text:
        text = _PASSWORD_IN_URL.sub(lambda m: m.group("scheme") + REDACTED, text)
    for secret in _registered_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    # Log lines reuse a small set of keys: remember the answer instead of searching every time.
    return _SECRET_KEY.search(key) is not None


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a log value recursively; secret-looking keys lose their value entirely."""
    if key is not None and _is_secret_key(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last step before rendering, so nothing escapes it."""
    return {key: redact_value(value, key) for key, value in event_dict.items()}


def add_service(service: str) -> Processor:
    def processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``trace_id``/``span_id`` of the current span, on lines written inside one (tracing on).

    With tracing off there is never a valid current span: one context lookup, nothing added.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def name_library_lines(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Lines from stdlib loggers (aio-pika, aiohttp) get a dotted ``event`` like ours."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict["message"] = event_dict.get("event")
        event_dict["event"] = f"lib.{record.name}"
    return event_dict


def _orjson_text(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def _exceptions(log_format: str) -> Processor:
    """A traceback as the renderer takes it: structured for JSON, text for the console (its
    renderer concatenates the ``exception`` field to the line)."""
    if log_format == "console":
        return structlog.processors.format_exc_info
    return structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )


def _renderer(log_format: str) -> Processor:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    # orjson: the JSON encoding was a visible share of ingest's CPU per request.
    return structlog.processors.JSONRenderer(serializer=_orjson_text)


_LEVEL_OF_METHOD = {"warn": "warning", "exception": "error", "fatal": "critical"}
_CONTEXT_FIELDS = ("event_id", "correlation_id", "document_key")
_FAILED_LINE_TEXT = 512


def _printable(value: object) -> str:
    """``str(value)`` that cannot fail, bounded, masked and encodable."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    text = redact_text(text[:_FAILED_LINE_TEXT])
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class FailedLine:
    """The line written instead of one whose processing or rendering raised: plain fields only,
    so that it cannot fail in turn; the failure is named, the original fields are not repeated."""

    service: str
    log_format: str

    def __call__(self, method_name: str, event: object, error: BaseException) -> str:
        try:
            return self._render(method_name, event, error)
        except Exception:  # the last resort holds nothing that could fail
            return '{"event": "log.line_failed"}'

    def _render(self, method_name: str, event: object, error: BaseException) -> str:
        fields = {
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "level": _LEVEL_OF_METHOD.get(method_name, method_name),
            "event": "log.line_failed",
            "service": self.service,
            "failed_event": _printable(event),
            "error": f"{type(error).__name__}: {_printable(error)}",
        }
        context = structlog.contextvars.get_contextvars()
        fields |= {key: _printable(context[key]) for key in _CONTEXT_FIELDS if key in context}
        if self.log_format == "console":
            head = f"{fields.pop('timestamp')} [{fields.pop('level')}] {fields.pop('event')}"
            return " ".join([head, *(f"{key}={value!r}" for key, value in fields.items())])
        return orjson.dumps(fields).decode()


def guarded(chain: Sequence[Processor], failed_line: FailedLine) -> Processor:
    """The processors of our lines as one, whose failure yields `FailedLine`'s line instead of
    an exception in the caller (structlog runs processors inside ``log.info(…)`` itself)."""

    def process(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        event = event_dict.get("event")
        try:
            for processor in chain:
                event_dict = processor(logger, method_name, event_dict)  # type: ignore[assignment]
        except Exception as exc:  # structlog.DropEvent is a BaseException: it passes
            return failed_line(method_name, event, exc)
        return event_dict

    return process


class GuardedFormatter(structlog.stdlib.ProcessorFormatter):
    """Library lines: a failure anywhere in formatting (the record's own ``%`` arguments, a
    processor, the renderer) yields `FailedLine`'s line rather than the stdlib's stderr dump."""

    def __init__(self, failed_line: FailedLine, **options: Any) -> None:
        super().__init__(**options)
        self.failed_line = failed_line

    def format(self, record: logging.LogRecord) -> str:
        try:
            return super().format(record)
        except Exception as exc:
            return self.failed_line(record.levelname.lower(), f"lib.{record.name}", exc)


class ForgivingWriter(structlog.WriteLogger):
    """A line the stream refuses (closed, broken pipe) is lost rather than raised into the caller,
    as stdlib handlers do (`logging.Handler.handleError`)."""

    def msg(self, message: str) -> None:
        try:
            super().msg(message)
        except Exception as exc:
            _complain(exc)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def _complain(exc: Exception) -> None:
    with contextlib.suppress(Exception):  # nowhere left to tell
        sys.stderr.write(f"log line lost: {type(exc).__name__}\n")


def _shared_writer(writer: structlog.WriteLogger) -> Callable[..., structlog.WriteLogger]:
    def factory(*_: Any) -> structlog.WriteLogger:
        return writer

    return factory


def configure_logging(
    service: str, level: str = "INFO", log_format: str = "json", stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger to print one JSON object per line."""
    output = stream or sys.stdout
    numeric_level = logging.getLevelName(level.upper())
    failed_line = FailedLine(service, log_format)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_service(service),
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    ours: list[Processor] = [
        *shared,
        structlog.processors.StackInfoRenderer(),
        _exceptions(log_format),
        redact_secrets,
        _renderer(log_format),
    ]
    structlog.configure(
        processors=[guarded(ours, failed_line)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # One writer for every line, not a new PrintLogger per call (the factory runs each time
        # a logger is bound, as loggers are not cached so that tests can reconfigure).
        logger_factory=_shared_writer(ForgivingWriter(output)),
        cache_logger_on_first_use=False,
    )
    formatter = GuardedFormatter(
        failed_line,
        foreign_pre_chain=[*shared, name_library_lines],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _exceptions(log_format),
            redact_secrets,
            _renderer(log_format),
        ],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # aio-pika and aiormq are chatty at INFO during reconnects; their warnings are what matters.
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
    # Our own access logger replaces aiohttp's, which would print query strings.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(**initial: Any) -> Any:
    return structlog.get_logger(**initial)


@contextmanager
def bind_event_context(context: MutableMapping[str, str] | Mapping[str, str]) -> Iterator[None]:
    """Bind ``event_id``/``correlation_id``/``document_key`` for every line inside the block."""
    with structlog.contextvars.bound_contextvars(**context):
        yield
