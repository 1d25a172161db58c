"""A log line stays small and cheap whatever it carries (issue 14), and a cut never shows part of
a secret.

Each field keeps at most `MAX_FIELD_CHARS` characters of text (`MAX_TRACEBACK_CHARS` for a
traceback), the rest marked ``…[+N chars]``/``…[+N items]``; the redaction reads only what is
kept plus a margin. What is checked is what is bounded (lengths printed, lengths scanned, spied on
the redaction), never a time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import aiosqlite
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

import shared.logging as shared_logging
from services.ingest.keys import OBSERVER
from services.ingest.middlewares import access_log_middleware
from shared.logging import (
    MAX_FIELD_CHARS,
    MAX_KEY_CHARS,
    MAX_TRACEBACK_CHARS,
    REDACTED,
    get_logger,
    register_secret,
)
from tests.plugins.logs import LogOutput

MIB = 1024 * 1024
# What the redaction may read past a cut: 32 characters, or the longest registered secret.
MARGIN = 64
# A megabyte in which every scanner has work: '://' with a password, 'token=', a registered
# secret, repeated to the end.
HOSTILE_SECRET = "hostile-registered-secret"
HOSTILE_UNIT = "a" * 500 + f"://u:pw@h/?token=t&x={HOSTILE_SECRET} "
HOSTILE = (HOSTILE_UNIT * (MIB // len(HOSTILE_UNIT) + 1))[:MIB]
# No line may come near the megabyte it was given.
LINE_BOUND = MAX_TRACEBACK_CHARS + 4 * MAX_FIELD_CHARS


def cut_mark(omitted: int) -> str:
    return f"…[+{omitted} chars]"


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the redaction reads: its patterns and its registered-secret
    search all run in `shared.logging._secret_spans`, and the patterns are spied on as well."""
    lengths: list[int] = []
    spans = shared_logging._secret_spans

    def spied_spans(text: str, cut: bool) -> list[tuple[int, int]]:
        lengths.append(len(text))
        return spans(text, cut)

    class SpiedPattern:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def finditer(self, text: str) -> Iterator[re.Match[str]]:
            lengths.append(len(text))
            return self.pattern.finditer(text)

    monkeypatch.setattr(shared_logging, "_secret_spans", spied_spans)
    for name in ("_TOKEN_IN_QUERY", "_PASSWORD_IN_URL", "_PASSWORD_IN_CUT_URL"):
        monkeypatch.setattr(shared_logging, name, SpiedPattern(getattr(shared_logging, name)))
    return lengths


def json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines()]


# -- every path, fed a megabyte: what is printed and what is read stay bounded ---------------------


def our_field(value: str) -> None:
    get_logger().info("webhook.received", file_name=value)


def our_nested_value(value: str) -> None:
    get_logger().info("rd.call", body={"deal": {"name": value, "tags": [value, {"x": value}]}})


def library_line(value: str) -> None:
    logging.getLogger("aiohttp.client").debug("request body %s", value)


def our_exception(value: str) -> None:
    try:
        raise RuntimeError(value)
    except RuntimeError:
        get_logger().exception("event.crashed")


def library_exception(value: str) -> None:
    try:
        raise RuntimeError(value)
    except RuntimeError:
        logging.getLogger("aio_pika.robust_connection").error("closed", exc_info=True)


PATHS = [our_field, our_nested_value, library_line, our_exception, library_exception]


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize("write", PATHS)
def test_a_megabyte_value_prints_a_bounded_line_after_a_bounded_scan(
    log_output: LogOutput, scanned: list[int], log_format: str, write: Callable[[str], None]
) -> None:
    stream = log_output(log_format)
    register_secret(HOSTILE_SECRET)

    write(HOSTILE)

    text = stream.getvalue()
    assert scanned, "the redaction read nothing"
    assert max(scanned) <= MAX_TRACEBACK_CHARS + MARGIN
    assert len(text) <= LINE_BOUND
    assert "…[+" in text
    assert "pw@" not in text
    assert "token=t" not in text
    assert HOSTILE_SECRET not in text
    assert "log.line_failed" not in text


def test_a_plain_field_is_cut_at_the_cap_with_the_count_of_what_was_left_out(
    log_output: LogOutput,
) -> None:
    stream = log_output()

    our_field("x" * MIB)

    (line,) = json_lines(stream.getvalue())
    assert line["file_name"] == "x" * MAX_FIELD_CHARS + cut_mark(MIB - MAX_FIELD_CHARS)


def test_a_field_at_the_cap_is_printed_whole(log_output: LogOutput) -> None:
    stream = log_output()

    our_field("x" * MAX_FIELD_CHARS)

    (line,) = json_lines(stream.getvalue())
    assert line["file_name"] == "x" * MAX_FIELD_CHARS


def test_fields_other_than_the_traceback_read_no_more_than_the_field_cap(
    log_output: LogOutput, scanned: list[int]
) -> None:
    log_output()
    register_secret(HOSTILE_SECRET)

    get_logger().info("rd.call", path=HOSTILE, body={"a": [HOSTILE]})

    assert scanned
    assert max(scanned) <= MAX_FIELD_CHARS + MARGIN


def test_a_nested_value_shares_one_budget_per_field(log_output: LogOutput) -> None:
    stream = log_output()

    get_logger().info("rd.call", body={"name": "x" * MIB, "rest": {"k": "y" * MIB}})

    (line,) = json_lines(stream.getvalue())
    printed = orjson.dumps(line["body"]).decode()
    assert len(printed) <= MAX_FIELD_CHARS + 100
    kept = re.fullmatch(r"(x+)…\[\+(\d+) chars\]", line["body"]["name"])
    assert kept is not None
    assert len(kept[1]) <= MAX_FIELD_CHARS
    assert len(kept[1]) + int(kept[2]) == MIB
    assert line["body"]["…"] == "[+1 items]"


def test_a_list_of_a_million_items_is_cut_with_the_count_of_what_was_left_out(
    log_output: LogOutput,
) -> None:
    stream = log_output()

    get_logger().info("rd.call", ids=list(range(1_000_000)))

    (line,) = json_lines(stream.getvalue())
    ids = line["ids"]
    assert len(ids) <= MAX_FIELD_CHARS + 1
    assert ids[:3] == [0, 1, 2]
    assert ids[-1] == f"…[+{1_000_000 - (len(ids) - 1)} items]"


def test_a_deeply_nested_value_is_cut_at_the_depth_limit(log_output: LogOutput) -> None:
    stream = log_output()
    value: Any = "bottom"
    for _ in range(5_000):
        value = [value]

    get_logger().info("rd.call", body=value)

    (line,) = json_lines(stream.getvalue())
    assert "deeper than" in orjson.dumps(line["body"]).decode()


def test_a_huge_key_is_cut_and_a_long_secret_looking_key_still_loses_its_value(
    log_output: LogOutput,
) -> None:
    stream = log_output()

    get_logger().info("rd.call", body={"k" * MIB: 1, "x" * 1000 + "_token": "long-key-token-9"})

    (line,) = json_lines(stream.getvalue())
    keys = list(line["body"])
    assert keys[0] == "k" * MAX_KEY_CHARS + cut_mark(MIB - MAX_KEY_CHARS)
    assert line["body"][keys[1]] == REDACTED


def test_a_megabyte_exception_message_keeps_the_frames(log_output: LogOutput) -> None:
    stream = log_output()

    our_exception("x" * MIB)

    (line,) = json_lines(stream.getvalue())
    (exception,) = line["exception"]
    assert exception["exc_value"] == "x" * MAX_FIELD_CHARS + cut_mark(MIB - MAX_FIELD_CHARS)
    assert exception["frames"][0]["name"] == "our_exception"


def test_a_megabyte_exception_message_in_console_keeps_the_traceback_head(
    log_output: LogOutput,
) -> None:
    stream = log_output("console")

    our_exception("x" * MIB)

    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "in our_exception" in text
    assert "RuntimeError: xxx" in text
    assert len(text) <= MAX_TRACEBACK_CHARS + 200
    assert re.search(r"…\[\+\d+ chars\]\n$", text)


# -- ingest's access line, with a path no HTTP client could send --------------------------------


class RecordingObserver:
    def __init__(self) -> None:
        self.statuses: list[int] = []

    def request_served(self, method: str, route: str, status: int, seconds: float) -> None:
        self.statuses.append(status)


async def not_found(_: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()


async def test_the_access_line_of_a_megabyte_path_is_bounded(
    log_output: LogOutput, scanned: list[int]
) -> None:
    stream = log_output("json", level="INFO")
    app = web.Application()
    observer = RecordingObserver()
    app[OBSERVER] = observer  # type: ignore[assignment]
    request = make_mocked_request("GET", "/" + "a" * MIB + "://x", app=app)

    with pytest.raises(web.HTTPNotFound):
        await access_log_middleware(request, not_found)

    (line,) = json_lines(stream.getvalue())
    assert line["event"] == "http.request"
    assert line["status"] == 404
    assert line["path"] == "/" + "a" * (MAX_FIELD_CHARS - 1) + cut_mark(MIB + 5 - MAX_FIELD_CHARS)
    assert scanned
    assert max(scanned) <= MAX_FIELD_CHARS + MARGIN
    assert observer.statuses == [404]


# -- aiosqlite at DEBUG: each statement with its parameters --------------------------------------


async def run_statement_with_a_large_parameter() -> None:
    connection = aiosqlite.connect(":memory:")
    async with connection:
        await connection.execute("CREATE TABLE events (body TEXT)")
        await connection.execute("INSERT INTO events VALUES (?)", ("e" * 2 * MIB,))
    # aiosqlite's thread logs once more after the close: wait for it, so that no line of this
    # test lands in the next one's output.
    await asyncio.to_thread(connection._thread.join, 10)


async def test_aiosqlite_statements_are_not_logged_at_debug(log_output: LogOutput) -> None:
    stream = log_output("json", level="DEBUG")

    await run_statement_with_a_large_parameter()

    assert "lib.aiosqlite" not in stream.getvalue()


async def test_aiosqlite_statement_lines_are_bounded_when_asked_for(
    log_output: LogOutput,
) -> None:
    stream = log_output("json", level="DEBUG")
    logging.getLogger("aiosqlite").setLevel(logging.DEBUG)

    await run_statement_with_a_large_parameter()

    lines = [line for line in json_lines(stream.getvalue()) if line["event"] == "lib.aiosqlite"]
    assert lines
    assert all(len(line["message"]) <= MAX_FIELD_CHARS + 20 for line in lines)
    assert any("…[+" in line["message"] for line in lines)


# -- a cut never shows part of a secret --------------------------------------------------------


def field_cut_after(prefix_length: int, value: str, log_output: LogOutput) -> str:
    """The printed ``file_name`` of a megabyte whose ``value`` begins ``prefix_length``
    characters in, so that the cap falls inside it for prefix lengths near the cap."""
    stream = log_output()
    our_field("." * prefix_length + value + "-" * MIB)
    (line,) = json_lines(stream.getvalue())
    text: str = line["file_name"]
    return text


@pytest.mark.parametrize("secret_length", [12, 100])
def test_a_registered_secret_across_the_cut_is_masked_whole(
    log_output: LogOutput, secret_length: int
) -> None:
    secret = ("Qj8" * secret_length)[:secret_length]
    register_secret(secret)
    for inside in range(1, secret_length):
        start = MAX_FIELD_CHARS - inside
        printed = field_cut_after(start, secret, log_output)
        assert printed == "." * start + REDACTED + cut_mark(MIB)


@pytest.mark.parametrize("name", ["token=", "access_token=", "?token=", "&access_token="])
def test_a_token_value_across_the_cut_shows_none_of_itself(
    log_output: LogOutput, name: str
) -> None:
    value = "Qj8" * 20
    text = name + value
    for start in range(MAX_FIELD_CHARS - len(text), MAX_FIELD_CHARS):
        printed = field_cut_after(start, text, log_output)
        assert "Qj" not in printed, f"cut {MAX_FIELD_CHARS - start} characters in"


def test_a_url_password_across_the_cut_shows_none_of_itself(log_output: LogOutput) -> None:
    url = "amqp://signdeal:" + "Qj8" * 40 + "@rabbit:5672/"
    for start in range(MAX_FIELD_CHARS - len(url), MAX_FIELD_CHARS):
        printed = field_cut_after(start, url, log_output)
        assert "Qj" not in printed, f"cut {MAX_FIELD_CHARS - start} characters in"


@pytest.mark.parametrize("write", [our_nested_value, library_line])
def test_a_registered_secret_across_the_cut_is_masked_in_nested_and_library_values(
    log_output: LogOutput, write: Callable[[str], None]
) -> None:
    secret = "Qj8Qj8Qj8Qj8"
    register_secret(secret)
    stream = log_output()
    # These values sit a few characters into their line's text: every cut position in reach.
    for start in range(MAX_FIELD_CHARS - 40 - len(secret), MAX_FIELD_CHARS):
        write("." * start + secret + "-" * MIB)

    text = stream.getvalue()
    assert "Qj" not in text
    assert f"{REDACTED}…[+" in text  # some cut did fall inside the secret
