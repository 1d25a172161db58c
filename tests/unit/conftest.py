"""Fixtures for the logging tests: the stdlib logging state they change, put back afterwards."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest

from shared.logging import configure_logging

# The loggers `configure_logging` sets a level on.
TUNED_LOGGERS = ("aio_pika", "aiormq", "aiohttp.access", "aiosqlite")

LogOutput = Callable[..., io.StringIO]


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
    """``log_output(log_format="json", level="DEBUG")``: logging configured into a fresh buffer
    (ingest's configuration); the buffer holds the text printed."""

    def configure(log_format: str = "json", level: str = "DEBUG") -> io.StringIO:
        stream = io.StringIO()
        configure_logging("ingest", level=level, log_format=log_format, stream=stream)
        return stream

    return configure
