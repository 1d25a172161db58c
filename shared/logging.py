"""Structured logging for both services: JSON lines an SRE can follow event by event.

Every line carries ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` (a dotted name) and
``service``; lines about a Clicksign event also carry ``event_id``, ``correlation_id`` and
``document_key``, bound with `bind_event_context`; with tracing on (`shared.tracing`), lines
written inside a span carry its ``trace_id`` and ``span_id``. Secrets never reach the output: the
redaction processor masks secret-looking keys, ``token=`` query values, passwords in URLs and
every literal value registered with `register_secret`, in our lines, in library lines and in
tracebacks.

A line's cost does not grow with what it carries: each field keeps at most `MAX_FIELD_CHARS`
characters of text (`MAX_TRACEBACK_CHARS` for a traceback), the rest shown as ``…[+N chars]`` or
``…[+N items]``, and the redaction reads only what can be kept plus a margin. Logging never raises
into its caller: a line that cannot be processed becomes a ``log.line_failed`` line naming why.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any, TextIO
from uuid import UUID

import orjson
import structlog
from aiohttp.http_exceptions import HttpProcessingError
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
# Text per field of a line: a string, or a mapping or list with everything nested in it. Enough for
# any message, error or path worth reading; a megabyte payload shows its beginning and its size.
MAX_FIELD_CHARS = 4_096
# A traceback (``exception``, ``stack``) keeps its frames and the start of its message.
MAX_TRACEBACK_CHARS = 32_768
MAX_KEY_CHARS = 128
MAX_DEPTH = 10
_TRACEBACK_FIELDS = frozenset({"exception", "stack", "stack_info"})

_SECRET_KEY = re.compile(
    r"(^|_|-)(token|secret|secrets|password|passwd|authorization|api_key|apikey|hmac_secret)$",
    re.IGNORECASE,
)
# The end of a key decides whether it looks secret; longer keys are judged by this tail (a tail
# cut mid-word can only make a key look secret, never hide one).
_SECRET_KEY_TAIL = 32
# ``token=`` (so ``access_token=`` too) not inside a longer word. The match starts at the '=' and
# looks back at the name: a pattern that starts with a literal is only tried where that literal
# is, not at every character (a fifth of the time on text without '=').
_TOKEN_IN_QUERY = re.compile(r"=(?<=(?<![A-Za-z0-9])token=)(?P<value>[^&\s\"'#]+)", re.IGNORECASE)
# Anchored on "://", not on the scheme in front of it: a scheme pattern tried at every letter of a
# long word made the scan quadratic (issue 14). From one "://" the scan stops at the next "/",
# so the whole text is read a bounded number of times.
_PASSWORD_IN_URL = re.compile(r"://[^:/@\s]+:(?P<password>[^@\s/]+)(?=@)")
# Where the scanned window ends before the text does, the '@' may lie past it: a password that
# runs into the end of the window is masked all the same.
_PASSWORD_IN_CUT_URL = re.compile(r"://[^:/@\s]+:(?P<password>[^@\s/]+)(?=@|\Z)")
# A cut text is scanned this far past the cut (at least; longer registered secrets widen it), so
# that a secret or a ``token=`` name begun before the cut is seen whole and masked.
_MIN_CUT_MARGIN = 32


@dataclass
class _RegisteredSecrets:
    values: set[str]
    longest: int = 0


_registered = _RegisteredSecrets(set())


def register_secret(value: str | None) -> None:
    """Mask this literal value wherever it would appear in a log line."""
    if value and len(value) >= 4:
        _registered.values.add(value)
        _registered.longest = max(_registered.longest, len(value))


def forget_registered_secrets() -> None:
    """Tests only: start again with no registered secrets."""
    _registered.values.clear()
    _registered.longest = 0


def _secret_spans(text: str, cut: bool) -> list[tuple[int, int]]:
    """Where ``token=`` values, URL passwords and registered secrets lie in ``text``.

    Most values hold neither an '=' nor a '://': the patterns are skipped for them (every field of
    every line passes through here). ``cut``: ``text`` is the start of a longer text.
    """
    spans: list[tuple[int, int]] = []
    if "=" in text:
        spans += [match.span("value") for match in _TOKEN_IN_QUERY.finditer(text)]
    if "://" in text:
        passwords = _PASSWORD_IN_CUT_URL if cut else _PASSWORD_IN_URL
        spans += [match.span("password") for match in passwords.finditer(text)]
    for secret in _registered.values:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    return spans


def _mask(text: str, spans: list[tuple[int, int]], keep: int) -> tuple[str, int]:
    """``text[:keep]`` with every span replaced by `REDACTED`; a span begun before ``keep`` is
    masked whole. Returns the text and the offset in ``text`` where it stops."""
    parts: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if start >= keep:
            break
        if start < position:  # overlaps the span just masked
            position = max(position, end)
            continue
        parts += (text[position:start], REDACTED)
        position = end
    if position < keep:
        parts.append(text[position:keep])
        position = keep
    return "".join(parts), position


def redact_text(text: str) -> str:
    """Mask ``token=`` query values, URL passwords and registered secrets inside a string.

    Reads the whole string, in time linear in its length; log lines use `bounded_text`.
    """
    spans = _secret_spans(text, cut=False)
    return _mask(text, spans, len(text))[0] if spans else text


def bounded_text(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text``, masked like `redact_text`, the rest replaced by
    ``…[+N chars]``; only ``limit`` plus a margin of characters are read.

    Masks first, then cuts, on a window that reaches past the cut by more than any secret is long:
    cutting first would leave the first half of a secret that straddles the cut unrecognisable.
    """
    if len(text) <= limit:
        if _needs_no_work(text):
            return text
        spans = _secret_spans(text, cut=False)
        return _mask(text, spans, len(text))[0] if spans else text
    limit = max(limit, 0)
    window = text[: limit + max(_MIN_CUT_MARGIN, _registered.longest)]
    spans = _secret_spans(window, cut=len(window) < len(text))
    kept, end = _mask(window, spans, limit)
    return f"{kept}…[+{len(text) - end} chars]"


# Log lines reuse a small set of keys: the answer is remembered per key (keys up to the tail's
# length, a bounded number of them) instead of searching every time.
_secret_key_verdicts: dict[str, bool] = {}
_MAX_REMEMBERED_KEYS = 4096


def _looks_secret(key: str) -> bool:
    verdict = _secret_key_verdicts.get(key)
    if verdict is None:
        verdict = _SECRET_KEY.search(key[-_SECRET_KEY_TAIL:]) is not None
        if len(key) <= _SECRET_KEY_TAIL and len(_secret_key_verdicts) < _MAX_REMEMBERED_KEYS:
            _secret_key_verdicts[key] = verdict
    return verdict


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | Mapping | list | tuple) and not value)


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a value recursively, whole (history rows); secret-looking keys lose their value."""
    if key is not None and _looks_secret(key) and not _is_blank(value):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


class _Budget:
    """Characters a field may still show; every item and key spends from it too."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


# orjson writes these itself, in a few characters; it refuses integers outside 64 bits.
_SMALL_SCALARS = (bool, float, datetime, date, time, UUID)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_PLAIN_NUMBERS = frozenset({int, float})
# Built-in types first: isinstance stops at the first match, and a check against the Mapping ABC
# is slow.
_MAPPINGS = (dict, Mapping)
_CONTAINERS = (dict, list, tuple, set, frozenset, Mapping)


def _bounded(value: Any, key: str | None, budget: _Budget, depth: int) -> Any:
    if (
        key is not None
        and _secret_key_verdicts.get(key) is not False
        and _looks_secret(key)
        and not _is_blank(value)
    ):
        budget.left -= len(REDACTED)
        return REDACTED
    if isinstance(value, str):
        text = bounded_text(value, min(budget.left, MAX_FIELD_CHARS) if depth else budget.left)
        budget.left -= len(text)
        return text
    if value is None or isinstance(value, _SMALL_SCALARS):
        budget.left -= 1
        return value
    if isinstance(value, int):
        in_range = _INT_MIN <= value <= _INT_MAX
        return value if in_range else _bounded(_int_text(value), None, budget, depth)
    if isinstance(value, _CONTAINERS):
        if depth >= MAX_DEPTH:
            return _bounded(f"…[{type(value).__name__} deeper than {MAX_DEPTH}]", None, budget, 0)
        if isinstance(value, _MAPPINGS):
            return _bounded_mapping(value, budget, depth + 1)
        return _bounded_items(value, budget, depth + 1)
    if isinstance(value, Enum):
        return _bounded(value.value, None, budget, depth)
    # What the renderers would print for it (orjson's default, the console's repr), bounded.
    return _bounded(repr(value), None, budget, depth)


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return f"<int of {value.bit_length()} bits>"


def _bounded_mapping(value: Mapping[Any, Any], budget: _Budget, depth: int) -> dict[str, Any]:
    bounded: dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if budget.left <= 0:
            bounded["…"] = f"[+{len(value) - index} items]"
            break
        name = key if isinstance(key, str) else str(key)
        shown = bounded_text(name, MAX_KEY_CHARS)
        budget.left -= len(shown) + 1
        bounded[shown] = _bounded(item, name, budget, depth)
    return bounded


def _bounded_items(
    value: list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any], budget: _Budget, depth: int
) -> list[Any]:
    bounded: list[Any] = []
    for index, item in enumerate(value):
        if budget.left <= 0:
            bounded.append(f"…[+{len(value) - index} items]")
            break
        budget.left -= 1
        bounded.append(_bounded(item, None, budget, depth))
    return bounded


def _needs_no_work(text: str) -> bool:
    """Most values: short, neither '=' nor '://', no registered secret. Checked before anything
    else, as every field of every line passes here (a visible share of a webhook's CPU)."""
    if len(text) > MAX_FIELD_CHARS or "=" in text or "://" in text:
        return False
    for secret in _registered.values:  # noqa: SIM110 - a loop: no generator per field
        if secret in text:
            return False
    return True


def _bounded_field(key: str, value: Any) -> Any:
    """One field of a line, masked and cut to its budget."""
    if _secret_key_verdicts.get(key) is False:  # known, and not secret-looking
        if type(value) is str and _needs_no_work(value):
            return value
        if type(value) in _PLAIN_NUMBERS and _INT_MIN <= value <= _INT_MAX:
            return value
    limit = MAX_TRACEBACK_CHARS if key in _TRACEBACK_FIELDS else MAX_FIELD_CHARS
    return _bounded(value, key, _Budget(limit), 0)


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last step before rendering, so nothing escapes it."""
    return {key: _bounded_field(key, value) for key, value in event_dict.items()}


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
    text = bounded_text(text, _FAILED_LINE_TEXT)
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


def _not_a_transport_error(record: logging.LogRecord) -> bool:
    """aiormq logs every failed connection attempt at error level before raising it; the caller
    reports that failure itself, in one line naming AMQP_URL (`broker.connect_failed`,
    `broker.unreachable`), so aiormq's copy only doubles the noise of a broker that is down."""
    return not str(record.msg).startswith("error when creating transport")


def _malformed_request_is_a_warning(record: logging.LogRecord) -> bool:
    """aiohttp logs a request its HTTP parser refuses (a broken header, a line too long) as an
    ERROR with a traceback, before any app sees it, and answers it 400 itself. Any client can
    send one, signed or not: a WARNING line naming the refusal, without the traceback, keeps
    such clients from filling the logs with tracebacks or paging whoever alerts on errors."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "malformed request refused with %s: %s"
        record.args = (exc.code, exc.message)
        record.exc_info = record.exc_text = None
    return True


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
    logging.getLogger("aiormq.connection").addFilter(_not_a_transport_error)
    logging.getLogger("aiohttp.server").addFilter(_malformed_request_is_a_warning)
    # aiosqlite's debug lines (three per statement) print each statement with its parameters:
    # whole events, signers' e-mails and CPFs. They say nothing an SRE needs.
    logging.getLogger("aiosqlite").setLevel(max(numeric_level, logging.INFO))
    # Our own access logger replaces aiohttp's, which would print query strings.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(**initial: Any) -> Any:
    return structlog.get_logger(**initial)


@contextmanager
def bind_event_context(
    context: MutableMapping[str, str | None] | Mapping[str, str | None],
) -> Iterator[None]:
    """Bind ``event_id``/``correlation_id``/``document_key`` for every line inside the block."""
    with structlog.contextvars.bound_contextvars(**context):
        yield
