"""Log output for the tests: into a buffer as a service prints it, and logging's global state
(structlog, the stdlib root logger, registered secrets) put back after every test."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest
import structlog

from shared.logging import configure_logging, forget_registered_secrets

# The loggers `configure_logging` sets a level on.
TUNED_LOGGERS = ("aio_pika", "aiormq", "aiohttp.access", "aiosqlite")

LogOutput = Callable[..., io.StringIO]


@pytest.fixture(autouse=True)
def _reset_logging_state() -> Iterator[None]:
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    forget_registered_secrets()


@pytest.fixture
def restore_stdlib_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    tuned = {name: logging.getLogger(name).level for name in TUNED_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, tuned_level in tuned.items():
        logging.getLogger(name).setLevel(tuned_level)


@pytest.fixture
def log_output(restore_stdlib_logging: None) -> LogOutput:
    """``log_output(log_format="json", level="DEBUG", service="ingest")``: logging configured
    into a fresh buffer, as that service configures it; the buffer holds the text printed."""

    def configure(
        log_format: str = "json", level: str = "DEBUG", service: str = "ingest"
    ) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(service, level=level, log_format=log_format, stream=stream)
        return stream

    return configure


@pytest.fixture
def crm_writer_log(log_output: LogOutput) -> io.StringIO:
    """crm_writer's log lines at INFO, as in production."""
    return log_output(level="INFO", service="crm_writer")


@pytest.fixture
def ingest_log(log_output: LogOutput) -> io.StringIO:
    """ingest's log lines at INFO, as in production."""
    return log_output(level="INFO", service="ingest")


@pytest.fixture
def ingest_debug_log(log_output: LogOutput) -> io.StringIO:
    """ingest's log lines at DEBUG (its access log with them)."""
    return log_output(level="DEBUG", service="ingest")
