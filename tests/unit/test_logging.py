"""JSON log lines with the base fields, and secrets that never reach the output."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiohttp.http_exceptions import BadHttpMessage

from shared.logging import (
    REDACTED,
    bind_event_context,
    configure_logging,
    get_logger,
    register_secret,
)
from tests.plugins.logs import LogOutput

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines(log_output: LogOutput) -> Lines:
    """Configure logging into a buffer; calling the result returns the lines printed so far."""
    stream = log_output()

    def read() -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in stream.getvalue().splitlines()]

    return read


def test_every_line_is_json_with_the_base_fields(lines: Lines) -> None:
    get_logger().info("webhook.received", event_name="sign")

    (line,) = lines()
    assert line["event"] == "webhook.received"
    assert line["level"] == "info"
    assert line["service"] == "ingest"
    assert line["event_name"] == "sign"
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None


def test_timestamp_is_utc(lines: Lines) -> None:
    get_logger().warning("broker.disconnected")

    timestamp = datetime.fromisoformat(lines()[0]["timestamp"])
    assert timestamp.utcoffset() is not None
    assert timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_event_context_is_on_every_line_inside_the_block(lines: Lines) -> None:
    context = {"event_id": "e-1", "correlation_id": "c-1", "document_key": "d-1"}
    with bind_event_context(context):
        get_logger().info("event.published")
    get_logger().info("service.stopping")

    inside, outside = lines()
    assert {key: inside[key] for key in context} == context
    assert "event_id" not in outside


def test_token_query_parameter_is_redacted(lines: Lines) -> None:
    get_logger().info(
        "rd.request", url="https://crm.rdstation.com/api/v1/deals?token=abc123secret&x=1"
    )

    line = lines()[0]
    assert "abc123secret" not in orjson.dumps(line).decode()
    assert line["url"] == f"https://crm.rdstation.com/api/v1/deals?token={REDACTED}&x=1"


def test_password_in_a_url_is_redacted(lines: Lines) -> None:
    get_logger().info("broker.url", url="amqp://signdeal:hunter22@rabbit:5672/")

    assert lines()[0]["url"] == f"amqp://signdeal:{REDACTED}@rabbit:5672/"


@pytest.mark.parametrize(
    "key", ["token", "rd_token", "password", "authorization", "api_key", "webhook_secret"]
)
def test_secret_looking_keys_lose_their_value(lines: Lines, key: str) -> None:
    get_logger().info("config.loaded", **{key: "plain-value-1234"})

    assert lines()[0][key] == REDACTED


def test_secret_keys_nested_in_mappings_are_redacted(lines: Lines) -> None:
    get_logger().info("rd.request", headers={"Authorization": "Bearer xyz", "Accept": "json"})

    assert lines()[0]["headers"] == {"Authorization": REDACTED, "Accept": "json"}


def test_registered_secrets_are_masked_anywhere(lines: Lines) -> None:
    register_secret("s3cr3t-webhook-key")

    get_logger().info(
        "debug.dump", note="signed with s3cr3t-webhook-key today", items=["s3cr3t-webhook-key"]
    )

    output = orjson.dumps(lines()).decode()
    assert "s3cr3t-webhook-key" not in output
    assert f"signed with {REDACTED} today" in output


def test_tracebacks_are_structured_and_redacted(lines: Lines) -> None:
    register_secret("leaky-secret-value")
    try:
        raise RuntimeError("request to /deals?token=tok-999 with leaky-secret-value failed")
    except RuntimeError:
        get_logger().exception("rd.request_failed")

    line = lines()[0]
    output = orjson.dumps(line).decode()
    assert line["level"] == "error"
    assert "exception" in line
    assert "RuntimeError" in output
    assert "tok-999" not in output
    assert "leaky-secret-value" not in output


def test_traceback_locals_are_not_logged(lines: Lines) -> None:
    def call_rd(access_token: str) -> None:
        raise ValueError("boom")

    try:
        call_rd("local-token-value")
    except ValueError:
        get_logger().exception("rd.request_failed")

    assert "local-token-value" not in orjson.dumps(lines()).decode()


def test_library_lines_are_json_with_the_base_fields(lines: Lines) -> None:
    logging.getLogger("aiohttp.server").warning("Error handling request from %s", "10.0.0.1")

    (line,) = lines()
    assert line["event"] == "lib.aiohttp.server"
    assert line["message"] == "Error handling request from 10.0.0.1"
    assert line["level"] == "warning"
    assert line["service"] == "ingest"
    assert "timestamp" in line


def test_a_request_aiohttps_parser_refuses_is_one_warning_without_a_traceback(
    lines: Lines,
) -> None:
    # What aiohttp's protocol logs for a broken request, before any app sees it.
    try:
        raise BadHttpMessage("Invalid header value char")
    except BadHttpMessage:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "::1")
    try:
        raise RuntimeError("a real server error")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "::1")

    malformed, crash = lines()
    assert malformed["event"] == "lib.aiohttp.server"
    assert malformed["level"] == "warning"
    assert malformed["message"] == ("malformed request refused with 400: Invalid header value char")
    assert "exception" not in malformed
    assert (crash["level"], "exception" in crash) == ("error", True)


def test_library_lines_are_redacted(lines: Lines) -> None:
    register_secret("registered-in-lib")

    logging.getLogger("aio_pika").warning(
        "Connection to amqp://u:pw-in-url@h/ failed, token=lib-token registered-in-lib"
    )

    output = orjson.dumps(lines()).decode()
    for leaked in ("pw-in-url", "lib-token", "registered-in-lib"):
        assert leaked not in output


def test_library_tracebacks_are_redacted(lines: Lines) -> None:
    try:
        raise ConnectionError("GET https://crm.example/api?token=stdlib-tok")
    except ConnectionError:
        logging.getLogger("aiormq.connection").exception("Unexpected connection close")

    line = lines()[0]
    output = orjson.dumps(line).decode()
    assert "stdlib-tok" not in output
    assert "ConnectionError" in output


def test_library_lines_carry_the_bound_event_context(lines: Lines) -> None:
    with bind_event_context({"event_id": "e-9", "correlation_id": "c-9", "document_key": "d-9"}):
        logging.getLogger("aio_pika").warning("publish took long")

    assert lines()[0]["event_id"] == "e-9"


def test_chatty_libraries_are_held_at_warning(lines: Lines) -> None:
    logging.getLogger("aio_pika").info("Reconnecting")
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /x?token=t HTTP/1.1" 200')

    assert lines() == []


def test_levels_below_the_configured_one_are_dropped(restore_stdlib_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("crm_writer", level="WARNING", stream=stream)

    get_logger().info("deal.created")
    get_logger().warning("deal.retrying")

    (line,) = [orjson.loads(text) for text in stream.getvalue().splitlines()]
    assert line["event"] == "deal.retrying"
    assert line["service"] == "crm_writer"


# -- tracebacks in both formats, and logging that cannot raise into its caller (issue 17) ----------

FORMATS = ("json", "console")


def log_our_exception(message: str) -> None:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        get_logger().exception("rd.request_failed")


def log_library_exception(message: str) -> None:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        logging.getLogger("aiormq.connection").error("Unexpected close", exc_info=True)


@pytest.mark.parametrize("log_format", FORMATS)
@pytest.mark.parametrize("write", [log_our_exception, log_library_exception])
def test_a_logged_exception_prints_its_traceback_redacted_in_both_formats(
    log_output: LogOutput, log_format: str, write: Callable[[str], None]
) -> None:
    stream = log_output(log_format)
    register_secret("tb-registered-secret")

    write("the real error: tb-registered-secret, /deals?token=tb-token-1")

    text = stream.getvalue()
    assert "log.line_failed" not in text
    assert "Traceback" in text or '"frames"' in text
    assert "RuntimeError" in text
    assert "the real error" in text
    assert f"{REDACTED}, /deals?token={REDACTED}" in text
    assert "tb-registered-secret" not in text
    assert "tb-token-1" not in text


class BrokenRepr:
    def __repr__(self) -> str:
        raise ValueError("repr failed near token=repr-token-7")


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_line_that_cannot_be_rendered_becomes_a_line_naming_the_failure(
    log_output: LogOutput, log_format: str
) -> None:
    stream = log_output(log_format)

    with bind_event_context({"event_id": "e-17", "correlation_id": "c-17", "document_key": "d"}):
        get_logger().warning("deal.retrying", thing=BrokenRepr())  # must not raise

    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "log.line_failed" in text
    assert "deal.retrying" in text
    assert "e-17" in text
    assert "repr-token-7" not in text
    if log_format == "json":
        line = orjson.loads(text)
        assert line["level"] == "warning"
        assert line["service"] == "ingest"
        assert line["failed_event"] == "deal.retrying"
        assert line["error"] == f"ValueError: repr failed near token={REDACTED}"


def test_a_line_the_json_encoder_refuses_becomes_a_line_naming_the_failure(lines: Lines) -> None:
    get_logger().info("webhook.received", file_name="lone surrogate \ud800")  # must not raise

    (line,) = lines()
    assert line["event"] == "log.line_failed"
    assert line["failed_event"] == "webhook.received"
    assert line["error"].startswith("TypeError")


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_library_line_that_cannot_be_formatted_becomes_a_line_naming_the_failure(
    log_output: LogOutput, log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = log_output(log_format)

    logging.getLogger("aiohttp.server").warning("two %s %s", "arguments expected")

    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "log.line_failed" in text
    assert "lib.aiohttp.server" in text
    assert "TypeError" in text
    assert "Logging error" not in capsys.readouterr().err


class RefusingStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("stdout is gone")


def test_a_stream_that_refuses_the_line_does_not_raise_into_the_caller(
    restore_stdlib_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("ingest", stream=RefusingStream())

    get_logger().info("event.published")  # must not raise

    assert "log line lost: OSError" in capsys.readouterr().err
