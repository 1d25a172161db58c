"""What the security probe sends (issue 14): hostile and broken requests to ingest's webhook and
to crm_writer's history, each with the answers the documentation promises, and the raw-socket
exchange that sends one and reads the answer.

Every request is written byte by byte (`request`) rather than through an HTTP client: half of
them are things no client library sends (two ``Content-Length``, a chunk size of ``zz``, a header
trickled one byte at a time). A `Probe` is a list of steps, bytes to send and pauses, and the
outcomes that are right for it: a status code as text, or `CLOSED` when the right answer is the
server hanging up (a client that never finishes its headers). `exchange` sends the steps while it
waits for the status line, so a server that answers early (413 before the body, 408 while the
body trickles) is heard at once.

The answers (docs/architecture.md "Endpoints", docs/privacy.md "Who can read it", docs/security.md):
401 for a webhook not signed with the secret, whatever its body; 400 for a signed body that is not
a Clicksign event; 413 over the size limit; 408 for a body that does not arrive in time; 503 while
every body slot is taken; 202 for a signed trigger event, 200 for any other signed event; for the
history 401 without the token when one is set. What HTTP itself refuses (too many headers,
ambiguous framing) gets aiohttp's own 4xx: any of `REFUSED`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from sandbox.clicksign import build_webhook, encode, make_signers
from shared.events import MAX_NESTING, read_clicksign_webhook
from shared.signature import SIGNATURE_HEADER, sign

CLOSED = "closed"  # the server hung up without an answer
NO_ANSWER = "no answer"  # neither an answer nor a hang-up before the probe's deadline
WEBHOOK = "/webhooks/clicksign"
HOST = "127.0.0.1"
# aiohttp's refusals of a request it will not read (limits in shared/http_server.py).
REFUSED = ("400", "413", "414", "431", "501", "505")
# Under aiohttp's request-line and header-line limit (8,190 bytes), and over it.
LONG = 8_000
TOO_LONG = 9_000
# A slow client sends one byte every half second, for longer than any deadline of the services.
TRICKLE_PAUSE = 0.5
TRICKLE_SECONDS = 12.0
SLOW_DEADLINE = 15.0
FAST_DEADLINE = 10.0
DELETE = object()  # in `Bodies.edited`: remove the key


@dataclass(frozen=True)
class Pause:
    seconds: float


Step = bytes | Pause


@dataclass(frozen=True)
class Probe:
    """One connection: what is sent, in steps, and the outcomes that are right for it."""

    category: str
    name: str
    steps: tuple[Step, ...]
    expected: tuple[str, ...]
    deadline: float = FAST_DEADLINE
    # Within its batch: how long after the batch starts this connection opens.
    start_after: float = 0.0
    # The local address to connect from (another loopback address than 127.0.0.1).
    source: str | None = None


@dataclass(frozen=True)
class Answer:
    probe: Probe
    outcome: str
    seconds: float

    @property
    def as_expected(self) -> bool:
        return self.outcome in self.probe.expected

    def describe(self) -> dict[str, Any]:
        return {
            "category": self.probe.category,
            "name": self.probe.name,
            "expected": "/".join(self.probe.expected),
            "actual": self.outcome,
            "ms": round(self.seconds * 1000, 1),
        }


# -- the exchange -------------------------------------------------------------------------------


async def exchange(host: str, port: int, probe: Probe) -> Answer:
    """Open a connection, send ``probe``'s steps while waiting for the status line, hang up."""
    await asyncio.sleep(probe.start_after)
    started = time.monotonic()
    local = (probe.source, 0) if probe.source else None
    try:
        async with asyncio.timeout(probe.deadline):
            reader, writer = await asyncio.open_connection(host, port, local_addr=local)
    except (OSError, TimeoutError) as exc:
        return Answer(probe, f"not connected ({type(exc).__name__})", time.monotonic() - started)
    sending = asyncio.create_task(_send(writer, probe.steps))
    try:
        outcome = await _status(reader, probe.deadline - (time.monotonic() - started))
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return Answer(probe, outcome, time.monotonic() - started)


async def exchange_all(host: str, port: int, probes: Iterable[Probe]) -> list[Answer]:
    """Every probe at once (each after its own ``start_after``)."""
    return list(await asyncio.gather(*(exchange(host, port, probe) for probe in probes)))


async def exchange_each(host: str, port: int, probes: Iterable[Probe]) -> list[Answer]:
    """One probe after the other."""
    return [await exchange(host, port, probe) for probe in probes]


async def _send(writer: asyncio.StreamWriter, steps: Sequence[Step]) -> None:
    try:
        for step in steps:
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            else:
                writer.write(step)
                await writer.drain()
    except OSError:
        pass  # the server hung up while we were sending: its answer, if any, says why


async def _status(reader: asyncio.StreamReader, seconds: float) -> str:
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            line = await reader.readline()
    except TimeoutError:
        return NO_ANSWER
    except OSError:
        return CLOSED
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return parts[1].decode()
    return CLOSED if not line else f"garbled {line[:40]!r}"


_COLUMNS = ("tried", "as_expected", "unexpected")


def summary(answers: Iterable[Answer]) -> dict[str, dict[str, int]]:
    """Per category: tried, answered as expected, unexpected."""
    table: dict[str, dict[str, int]] = {}
    for answer in answers:
        row = table.setdefault(answer.probe.category, dict.fromkeys(_COLUMNS, 0))
        row["tried"] += 1
        row["as_expected" if answer.as_expected else "unexpected"] += 1
    return table


# -- building requests --------------------------------------------------------------------------


def request(
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    version: str = "HTTP/1.1",
) -> bytes:
    """One request with ``Connection: close`` (each probe is its own connection) and a
    ``Content-Length`` for ``body`` (for every POST, PUT and PATCH)."""
    lines = [f"{method} {path} {version}", f"Host: {HOST}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def head(headers: str, path: str = WEBHOOK) -> bytes:
    """A POST's head with these raw header lines (each ending in CRLF); the caller frames the
    body."""
    return f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n{headers}\r\n".encode()


def chunked(body: bytes, size: int = 65_536) -> bytes:
    """``body`` in chunked transfer coding, ``size`` bytes per chunk."""
    chunks = (body[start : start + size] for start in range(0, len(body), size))
    return b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks) + (
        b"0\r\n\r\n"
    )


def webhook(body: bytes, signature: str | None, *, event: str | None = None) -> bytes:
    """A POST to the webhook with ``Content-Hmac: signature`` (none when None)."""
    headers = [("Content-Type", "application/json")]
    if signature is not None:
        headers.append((SIGNATURE_HEADER, signature))
    if event is not None:
        headers.append(("Event", event))
    return request("POST", WEBHOOK, headers, body)


def trickled(data: bytes, seconds: float = TRICKLE_SECONDS) -> tuple[Step, ...]:
    """``data`` one byte every `TRICKLE_PAUSE`, for at most ``seconds``."""
    steps: list[Step] = []
    for index in range(min(len(data), int(seconds / TRICKLE_PAUSE))):
        steps += [data[index : index + 1], Pause(TRICKLE_PAUSE)]
    return tuple(steps)


def _get(path: str, headers: Sequence[tuple[str, str]] = ()) -> tuple[bytes]:
    return (request("GET", path, headers),)


# -- webhook bodies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bodies:
    """Webhook bodies for one run; every label is its own document, so every event is new, and
    the same label gives the same body (and event id) again."""

    run: str
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def payload(self, event_name: str, label: str) -> dict[str, Any]:
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"signdeal-security/{self.run}/{label}"))
        signers = make_signers(1, seed=7)
        return build_webhook(
            event_name, document_key=key, signers=signers, occurred_at=self.occurred_at
        )

    def trigger(self, label: str) -> bytes:
        """A ``sign`` event: published (202)."""
        return encode(self.payload("sign", label))

    def other(self, label: str) -> bytes:
        """An ``upload`` event: not a trigger (200)."""
        return encode(self.payload("upload", label))

    def edited(self, event_name: str, label: str, changes: Mapping[str, Any]) -> bytes:
        """``event_name``'s body with ``changes``: dotted paths to new values (`DELETE`)."""
        payload = self.payload(event_name, label)
        for path, value in changes.items():
            *parents, last = path.split(".")
            target = payload
            for part in parents:
                target = target[part]
            if value is DELETE:
                del target[last]
            else:
                target[last] = value(target[last]) if callable(value) else value
        return encode(payload)

    def padded(self, event_name: str, label: str, size: int) -> bytes:
        """``event_name``'s body grown to exactly ``size`` bytes by a filler field."""
        payload = self.payload(event_name, label) | {"filler": ""}
        payload["filler"] = "x" * (size - len(encode(payload)))
        return encode(payload)


def nested(levels: int) -> Any:
    """``levels`` lists inside each other: ``[[[…]]]``."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def event_id_of(body: bytes) -> str:
    return read_clicksign_webhook(body).event_id


# -- ingest -------------------------------------------------------------------------------------


def canary(bodies: Bodies, secret: str, label: str, start_after: float = 0.0) -> Probe:
    """A good webhook among the hostile ones: 202 every time."""
    body = bodies.trigger(f"canary-{label}")
    steps = (webhook(body, sign(body, secret)),)
    return Probe("canary", f"signed sign webhook {label}", steps, ("202",), start_after=start_after)


def signature_probes(bodies: Bodies, secret: str) -> list[Probe]:
    """Bad ``Content-Hmac`` headers on a good ``sign`` body: 401, and the body is never parsed."""
    body = bodies.trigger("signature")
    right = sign(body, secret).removeprefix("sha256=")
    wrong = "0123456789abcdef" * 4

    def bad(name: str, signature: str | None, payload: bytes = body) -> Probe:
        return Probe("signature", name, (webhook(payload, signature),), ("401",))

    def raw(name: str, data: bytes, expected: tuple[str, ...]) -> Probe:
        return Probe("signature", name, (data,), expected)

    latin = head(f"Content-Length: {len(body)}\r\n{SIGNATURE_HEADER}: sha256=").rstrip(b"\r\n")
    prefixed = bodies.trigger("signature-prefix")
    swapped = hmac.new(body, secret.encode(), hashlib.sha256).hexdigest()
    return [
        bad("no Content-Hmac header", None),
        bad("no Content-Hmac header, event not a trigger", None, bodies.other("unsigned")),
        bad("empty Content-Hmac", ""),
        bad("signed with another secret", sign(body, secret + "-old")),
        bad("sha256= with 64 zeros", "sha256=" + "0" * 64),
        bad("sha256= with wrong hex", f"sha256={wrong}"),
        bad("sha256= with wrong hex in upper case", f"sha256={wrong.upper()}"),
        bad("right hex, prefix sha1=", f"sha1={right}"),
        bad("right hex, prefix sha512=", f"sha512={right}"),
        bad("right hex, prefix hmac-sha256=", f"hmac-sha256={right}"),
        bad("right hex, prefix sha256: (a colon)", f"sha256:{right}"),
        bad("right hex, no prefix", right),
        bad("right hex cut to 32 digits", f"sha256={right[:32]}"),
        bad("right hex without its last digit", f"sha256={right[:-1]}"),
        bad("right hex and one digit more", f"sha256={right}0"),
        bad("sha256= and nothing", "sha256="),
        bad(f"a {LONG:,}-character header", "sha256=" + "a" * LONG),
        bad("another body's signature", sign(bodies.trigger("signature-other"), secret)),
        bad("one byte of the body changed after signing", sign(body, secret),
            body.replace(b"Contrato", b"Contrata", 1)),
        bad("the body re-indented after signing", sign(body, secret),
            orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)),
        bad("a newline appended after signing", sign(body, secret), body + b"\n"),
        bad("plain SHA-256 of the body", "sha256=" + hashlib.sha256(body).hexdigest()),
        bad("HMAC with key and message swapped", f"sha256={swapped}"),
        bad("the secret itself as the signature", f"sha256={secret}"),
        raw("non-ASCII bytes in the header", latin + b"\xe9" * 64 + b"\r\n\r\n" + body, ("401",)),
        raw("the right signature under another name (X-Clicksign-Signature)",
            request("POST", WEBHOOK, [("X-Clicksign-Signature", f"sha256={right}")], body),
            ("401",)),
        raw(f"a {TOO_LONG:,}-character header (over the line limit)",
            webhook(body, "sha256=" + "a" * TOO_LONG), REFUSED),
        # Hex writes the same 256 bits in either case: accepted on purpose (tests/unit).
        raw("right hex in upper case (accepted: the same MAC)",
            webhook(body, f"sha256={right.upper()}"), ("202",)),
        raw("right hex, prefix SHA256= (accepted: the same MAC)",
            webhook(prefixed, "SHA256=" + sign(prefixed, secret).removeprefix("sha256=")),
            ("202",)),
    ]  # fmt: skip


@dataclass(frozen=True)
class Broken:
    """A body that is not a usable Clicksign event, or is one only in an odd shape, and the
    answers it gets when well signed (unsigned, every one gets 401)."""

    name: str
    body: bytes
    signed: tuple[str, ...] = ("400",)
    event_header: str | None = None


def broken_bodies(bodies: Bodies) -> list[Broken]:
    upload_with = b'{"event":{"name":"upload"},"x":'
    edited = bodies.edited
    deep = nested(MAX_NESTING + 8)
    one_document: dict[str, Any] = {"document": lambda document: [document]}
    two_documents: dict[str, Any] = {"document": lambda document: [document, document]}
    return [
        Broken("not JSON", b"event=sign&document=x"),
        Broken("an empty body", b""),
        Broken("a JSON array", b'[{"event":{"name":"sign"}}]'),
        Broken("a JSON string", b'"sign"'),
        Broken("JSON null", b"null"),
        Broken("JSON, then garbage", bodies.trigger("garbage") + b"x"),
        Broken("a byte-order mark first", b"\xef\xbb\xbf" + bodies.trigger("bom")),
        Broken("NaN", upload_with + b"NaN}"),
        Broken("a number of 5,000 digits", upload_with + b"9" * 5000 + b"}"),
        Broken("invalid UTF-8", b'{"event":{"name":"upload\xff\xfe"}}'),
        Broken("a lone surrogate escape", upload_with + b'"\\ud800"}'),
        Broken(f"nesting {MAX_NESTING + 9} deep, not a trigger",
               encode({"event": {"name": "upload"}, "x": deep})),
        Broken(f"nesting {MAX_NESTING + 10} deep, in a sign event",
               edited("sign", "deep", {"document.metadata": {"x": deep}})),
        Broken("nesting 100,000 deep", upload_with + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        Broken(f"nesting {MAX_NESTING - 1} deep (under the limit)",
               encode({"event": {"name": "upload"}, "x": nested(MAX_NESTING - 2)}), ("200",)),
        Broken("duplicate keys (the last one wins)",
               bodies.trigger("duplicate")[:-1] + b',"event":{"name":"upload"}}', ("200", "202")),
        Broken("document a list of 2, sign", edited("sign", "two", two_documents)),
        Broken("document a list of 2, not a trigger", edited("upload", "two-other", two_documents),
               ("200",)),
        Broken("document a list of 1, sign (Clicksign's own example)",
               edited("sign", "one", one_document), ("202",)),
        Broken("no document, sign", edited("sign", "no-document", {"document": DELETE})),
        Broken("no event object, no Event header", edited("sign", "no-event", {"event": DELETE})),
        Broken("no event name, no Event header",
               edited("sign", "no-name", {"event.name": DELETE})),
        Broken("no event name, Event: sign header",
               edited("sign", "header-name", {"event.name": DELETE}), ("202",), "sign"),
        Broken("event name a number, no Event header",
               edited("sign", "number-name", {"event.name": 42})),
        Broken("numbers where text is expected", edited("sign", "numbers", {
            "document.key": 1234567, "document.filename": 42, "event.data.signer.email": 7,
        }), ("202",)),
        Broken("document key blank", edited("sign", "blank-key", {"document.key": "  "})),
        Broken("document key an object", edited("sign", "object-key", {"document.key": {}})),
        Broken("a 500,000-character event name", encode({"event": {"name": "x" * 500_000}}),
               ("200",)),
        Broken("a 250,000-character file name, sign",
               edited("sign", "huge-file", {"document.filename": "ã" * 250_000}), ("202",)),
        Broken("a NUL character in the file name, sign",
               edited("sign", "nul", {"document.filename": "a\x00b.pdf"}), ("202",)),
    ]  # fmt: skip


def payload_probes(bodies: Bodies, secret: str) -> list[Probe]:
    """Each broken body twice: unsigned (401: the signature is checked before the body is
    parsed) and well signed (400, or 2xx for the odd shapes ingest reads on purpose)."""
    probes = []
    for case in broken_bodies(bodies):
        unsigned = webhook(case.body, None, event=case.event_header)
        signed = webhook(case.body, sign(case.body, secret), event=case.event_header)
        probes += [
            Probe("payload, unsigned", case.name, (unsigned,), ("401",)),
            Probe("payload, signed", case.name, (signed,), case.signed),
        ]
    return probes


def size_probes(bodies: Bodies, secret: str, limit: int) -> list[Probe]:
    """Bodies over ``limit`` (413) and at it (answered on their merits)."""
    over = b"x" * (limit + 1)
    at_limit = bodies.padded("upload", "at-limit", limit)
    signed_over = bodies.padded("upload", "over-limit", limit + 1)
    signature = f"{SIGNATURE_HEADER}: {sign(signed_over, secret)}\r\n"

    def probe(name: str, data: bytes, expected: str) -> Probe:
        return Probe("size", name, (data,), (expected,))

    return [
        probe("Content-Length one over, nothing sent", head(f"Content-Length: {limit + 1}\r\n"),
              "413"),
        probe("Content-Length 10 GiB, nothing sent", head(f"Content-Length: {10 * 2**30}\r\n"),
              "413"),
        probe("one byte over, sent", webhook(over, None), "413"),
        probe("one byte over, well signed", webhook(signed_over, sign(signed_over, secret)),
              "413"),
        probe("chunked, twice the limit", head("Transfer-Encoding: chunked\r\n")
              + chunked(over + over), "413"),
        probe("chunked, one byte over, well signed",
              head("Transfer-Encoding: chunked\r\n" + signature) + chunked(signed_over), "413"),
        probe("exactly the limit, unsigned", webhook(at_limit, None), "401"),
        probe("exactly the limit, well signed", webhook(at_limit, sign(at_limit, secret)), "200"),
    ]  # fmt: skip


def bulk_probes(bodies: Bodies, limit: int, count: int) -> list[Probe]:
    """``count`` unsigned bodies at the limit and ``count`` chunked ones over it, all at once: the
    most memory unsigned clients can make ingest hold (503 for those that find no slot)."""
    at_limit = webhook(bodies.padded("upload", "bulk", limit), None)
    over = head("Transfer-Encoding: chunked\r\n") + chunked(b"x" * (2 * limit))
    return [
        *(Probe("size", f"at the limit, unsigned, {count} at once", (at_limit,), ("401", "503"),
                deadline=30.0) for _ in range(count)),
        *(Probe("size", f"chunked, twice the limit, {count} at once", (over,), ("413", "503"),
                deadline=30.0) for _ in range(count)),
    ]  # fmt: skip


def slow_body_head(length: int = 1000) -> bytes:
    return head(f"Content-Length: {length}\r\n{SIGNATURE_HEADER}: sha256=00\r\n")


def slow_client_probes() -> list[Probe]:
    """Clients that take their time: hung up on (headers, within the keep-alive timeout) or
    answered 408 (body, within its deadline), never held open."""
    chunks: list[Step] = []
    for _ in range(int(TRICKLE_SECONDS / TRICKLE_PAUSE)):
        chunks += [b"1\r\n \r\n", Pause(TRICKLE_PAUSE)]

    def slow(name: str, steps: tuple[Step, ...], expected: str) -> Probe:
        return Probe("slow clients", name, steps, (expected,), deadline=SLOW_DEADLINE)

    return [
        slow("connects and sends nothing", (Pause(TRICKLE_SECONDS),), CLOSED),
        slow("the request line one byte per 0.5 s", trickled(f"POST {WEBHOOK} HTTP/1.1\r\n".encode()
             * 4), CLOSED),
        slow("headers one byte per 0.5 s", (f"POST {WEBHOOK} HTTP/1.1\r\nHost: {HOST}\r\n".encode(),
             *trickled(b"X-Slow: " + b"a" * 100)), CLOSED),
        slow("the body one byte per 0.5 s", (slow_body_head(), *trickled(b"{" + b" " * 999)),
             "408"),
        slow("the body stops half-way", (slow_body_head(), b"{" + b" " * 499), "408"),
        slow("a chunked body, one chunk per 0.5 s",
             (head("Transfer-Encoding: chunked\r\n"), *chunks), "408"),
    ]  # fmt: skip


def busy_probes(bodies: Bodies, secret: str, slots: int, extra: int) -> list[Probe]:
    """``slots + extra`` clients start a body and stop: the first ``slots`` hold every slot until
    their deadline (408), the rest wait a moment and get 503; so does a good webhook sent
    meanwhile (Clicksign sends it again later)."""
    hold = [
        Probe("busy", f"a body started and stopped, {slots + extra} at once",
              (slow_body_head() + b"{",), ("408", "503"), deadline=SLOW_DEADLINE)
        for _ in range(slots + extra)
    ]  # fmt: skip
    body = bodies.trigger("busy")
    good = Probe("busy", "a good webhook while every slot is taken",
                 (webhook(body, sign(body, secret)),), ("503",), start_after=0.5)  # fmt: skip
    return [*hold, good]


def header_probes() -> list[Probe]:
    """Header sets over aiohttp's limits (shared/http_server.py), and one just under them."""

    def filler(count: int) -> list[tuple[str, str]]:
        return [(f"X-Filler-{index}", "a") for index in range(count)]

    def probe(name: str, data: bytes, expected: tuple[str, ...] = REFUSED) -> Probe:
        return Probe("headers", name, (data,), expected)

    return [
        probe("60 headers (under the limit of 64)", request("GET", "/healthz", filler(60)),
              ("200",)),
        probe("65 headers", request("GET", "/healthz", filler(65))),
        probe("1,000 headers", request("GET", "/healthz", filler(1000))),
        probe(f"a {TOO_LONG:,}-byte header value",
              request("GET", "/healthz", [("X-Big", "a" * TOO_LONG)])),
        probe(f"a {TOO_LONG:,}-byte header name",
              request("GET", "/healthz", [("X" * TOO_LONG, "a")])),
        probe("a NUL byte in a header value", request("GET", "/healthz", [("X-Nul", "a\x00b")])),
        probe("a header line without a colon",
              b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"),
        probe("an obsolete folded header line",
              b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"),
    ]  # fmt: skip


def path_probes(bodies: Bodies, secret: str) -> list[Probe]:
    """Hostile request targets (the ``://`` ones froze ingest's logging before issue 14), and
    the webhook secret where ingest logs text: its lines must mask it."""
    named = bodies.edited("upload", "secret-name", {"event.name": f"upload-{secret}"})
    unnamed = bodies.edited("upload", "secret-header", {"event.name": DELETE})

    def probe(name: str, data: bytes, expected: tuple[str, ...]) -> Probe:
        return Probe("paths", name, (data,), expected)

    return [
        probe(f"GET /aaa…://x ({LONG:,} a)", request("GET", "/" + "a" * LONG + "://x"), ("404",)),
        probe(f"POST /aaa…://x ({LONG:,} a)",
              request("POST", "/" + "a" * LONG + "://x", body=b"{}"), ("404",)),
        probe(f"/a:// {LONG // 4:,} times", request("GET", "/" + "a://" * (LONG // 4)), ("404",)),
        probe(f"a {TOO_LONG:,}-character path", request("GET", "/" + "a" * TOO_LONG), REFUSED),
        probe("dot segments to /etc/passwd", request("GET", "/webhooks/../../etc/passwd"),
              ("404",)),
        probe("encoded dot segments", request("GET", "/%2e%2e/%2e%2e/etc/passwd"), ("404",)),
        probe("a NUL byte encoded in the path", request("GET", "/healthz%00"), ("404",)),
        probe("absolute-form target, unsigned",
              request("POST", f"http://evil.example{WEBHOOK}", body=b"{}"), ("401",)),
        probe("the secret in the query string, unsigned",
              request("POST", f"{WEBHOOK}?token={secret}&secret={secret}", body=b"{}"),
              ("401",)),
        probe("the secret as X-Request-ID, unsigned",
              request("POST", WEBHOOK, [("X-Request-ID", secret)], b"{}"), ("401",)),
        probe("the secret in a signed event's name", webhook(named, sign(named, secret)),
              ("200",)),
        probe("the secret as the Event header of a signed event",
              webhook(unnamed, sign(unnamed, secret), event=secret), ("200",)),
    ]  # fmt: skip


def smuggling_probes(bodies: Bodies, secret: str) -> list[Probe]:
    """Ambiguous message framing: refused by aiohttp's parser, never read two ways."""
    body = bodies.trigger("smuggling")
    signature = f"{SIGNATURE_HEADER}: {sign(body, secret)}\r\n"
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    te = "Transfer-Encoding: chunked\r\n"

    def framed(name: str, headers: str, payload: bytes) -> Probe:
        return Probe("smuggling", name, (head(signature + headers) + payload,), REFUSED)

    return [
        framed("Content-Length and Transfer-Encoding: chunked",
               f"Content-Length: {len(body)}\r\n{te}", chunked(body)),
        framed("Transfer-Encoding: chunked, then Content-Length", f"{te}Content-Length: 4\r\n",
               chunked(body)),
        framed("two different Content-Length",
               f"Content-Length: {len(body)}\r\nContent-Length: 4\r\n", body),
        framed("Content-Length: -1", "Content-Length: -1\r\n", body),
        framed("Content-Length: +10", "Content-Length: +10\r\n", body),
        framed("Content-Length: 0x10", "Content-Length: 0x10\r\n", body),
        framed("Transfer-Encoding: xchunked", "Transfer-Encoding: xchunked\r\n", chunked(body)),
        framed("Transfer-Encoding: chunked, identity", "Transfer-Encoding: chunked, identity\r\n",
               chunked(body)),
        framed("a space before Transfer-Encoding's colon", "Transfer-Encoding : chunked\r\n",
               chunked(body)),
        framed("chunk size zz", te, b"zz\r\n" + body + b"\r\n0\r\n\r\n"),
        framed("a chunk size of 20 hex digits", te, b"f" * 20 + b"\r\n" + body + b"\r\n0\r\n\r\n"),
        framed("chunk size -5", te, b"-5\r\nabcde\r\n0\r\n\r\n"),
        framed("a chunk longer than its size", te, b"2\r\nabcdef\r\n0\r\n\r\n" + smuggled),
        Probe("smuggling", "HTTP/2's connection preface", (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",),
              REFUSED),
        Probe("smuggling", "HTTP/9.9", (request("GET", "/healthz", version="HTTP/9.9"),),
              REFUSED),
    ]  # fmt: skip


def method_probes() -> list[Probe]:
    """Methods other than POST on the webhook: 405; CONNECT (whose target is a host, so no
    route matches) and made-up methods: any refusal."""
    probes = [
        Probe("methods", f"{method} {WEBHOOK}", (request(method, WEBHOOK),), ("405",))
        for method in ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
    ]
    refused = (*REFUSED, "404", "405")
    return probes + [
        Probe("methods", f"{method} {WEBHOOK}", (request(method, WEBHOOK),), refused)
        for method in ("CONNECT", "FOO")
    ]


def ingest_probes(bodies: Bodies, secret: str, limit: int) -> list[tuple[str, list[Probe]]]:
    """The batches sent one request after the other, in order."""
    return [
        ("signature", signature_probes(bodies, secret)),
        ("payload", payload_probes(bodies, secret)),
        ("size", size_probes(bodies, secret, limit)),
        ("headers", header_probes()),
        ("paths", path_probes(bodies, secret)),
        ("smuggling", smuggling_probes(bodies, secret)),
        ("methods", method_probes()),
    ]


# -- crm_writer's history -----------------------------------------------------------------------

FORM = ("Content-Type", "application/x-www-form-urlencoded")
# Routes answered without credentials, and their answers (/readyz: 503 while not consuming).
OPEN = {"/healthz": ("200",), "/readyz": ("200", "503"), "/metrics": ("200",)}


def history_query_probes(category: str, auth: Sequence[tuple[str, str]]) -> list[Probe]:
    """What the history reads from the query and the path, asked by an allowed client."""

    def probe(name: str, path: str, expected: tuple[str, ...]) -> Probe:
        return Probe(category, name, _get(path, auth), expected)

    return [
        probe("since 9999-12-31T23:59:59-01:00 (past the calendar in UTC)",
              "/events?since=9999-12-31T23:59:59-01:00", ("400",)),
        probe("since 0001-01-01T00:00:00+01:00 (before it)",
              "/events?since=0001-01-01T00:00:00%2B01:00", ("400",)),
        probe("since 999999w", "/events?since=999999w", ("400",)),
        probe("since 999999d", "/events?since=999999d", ("400",)),
        probe("since yesterday (not a time)", "/events?since=yesterday", ("400",)),
        probe("since 30m", "/events?since=30m", ("200",)),
        probe("limit 10^12 (capped at 500)", "/events?limit=1000000000000", ("200",)),
        probe("limit -5", "/events?limit=-5", ("200",)),
        probe("limit of 5,000 digits", "/events?limit=" + "9" * 5000, ("400",)),
        probe("limit 1e3", "/events?limit=1e3", ("400",)),
        probe("an unknown status", "/events?status=deleted", ("400",)),
        probe("a status in upper case", "/events?status=DONE", ("400",)),
        probe("SQL in document_key", "/events?document_key=%27%20OR%20%271%27%3D%271", ("200",)),
        probe("SQL as an event id", "/events/%27%20OR%20%271%27%3D%271", ("404",)),
        probe("encoded traversal as an event id", "/events/..%2F..%2Fetc%2Fpasswd", ("404",)),
        probe("dot segments after /events", "/events/../../etc/passwd", ("404",)),
        probe("a NUL byte as an event id", "/events/%00", ("404",)),
        probe(f"an event id of {LONG:,} characters", "/events/" + "a" * LONG, ("404",)),
        probe(f"an event id of {TOO_LONG:,} characters", "/events/" + "a" * TOO_LONG, REFUSED),
    ]  # fmt: skip


def history_token_probes(token: str, event_id: str | None) -> list[Probe]:
    """crm_writer with ``CRM_WRITER_API_TOKEN``: only ``Authorization: Bearer <token>`` opens the
    history, from 127.0.0.1 as from anywhere; the probes and metrics stay open."""
    category = "history, token set"
    right = [("Authorization", f"Bearer {token}")]
    paths = ["/events", "/no-such-page", "/events/unknown"]
    paths += [f"/events/{event_id}"] if event_id else []
    # The history page (issue 15) sends a browser without a session to its login form instead.
    to_login = ("401", "303")

    def probe(name: str, steps: tuple[bytes, ...], expected: str) -> Probe:
        return Probe(category, name, steps, (expected,))

    def bearing(name: str, authorization: str, expected: str = "401") -> Probe:
        return probe(name, _get("/events", [("Authorization", authorization)]), expected)

    probes = [probe(f"no token, GET {path}", _get(path), "401") for path in paths]
    probes += [
        Probe(category, "no token, GET / (the page)", _get("/"), to_login),
        Probe(category, "no token, POST /replay (the page's form)",
              (request("POST", "/replay", body=b"all=1"),), to_login),
        probe("no token, POST /events", (request("POST", "/events", body=b"{}"),), "401"),
        probe("no token, DELETE /events", (request("DELETE", "/events"),), "401"),
        bearing("a wrong token", "Bearer wrong-token-0123456789"),
        bearing("the token and one character more", f"Bearer {token}x"),
        bearing("the token without its last character", f"Bearer {token[:-1]}"),
        bearing("the token as Basic credentials", f"Basic {token}"),
        bearing("the token without a scheme", token),
        bearing("Bearer and nothing", "Bearer "),
        probe("the token in ?token=", _get(f"/events?token={token}"), "401"),
        probe("the token in ?access_token=", _get(f"/events?access_token={token}"), "401"),
        probe("the token in ?api_token=", _get(f"/events?api_token={token}"), "401"),
        probe("the token in a cookie", _get("/events", [("Cookie", f"token={token}")]), "401"),
        probe("no token, X-Forwarded-For: 127.0.0.1",
              _get("/events", [("X-Forwarded-For", "127.0.0.1")]), "401"),
        probe("no token, an encoded traversal", _get("/events/..%2F..%2Fetc%2Fpasswd"), "401"),
        probe("no token, since past the calendar",
              _get("/events?since=9999-12-31T23:59:59-01:00"), "401"),
        bearing("the token, scheme in lower case", f"bearer {token}", "200"),
        probe("the token, and again in the query (the header counts)",
              _get(f"/events?token={token}", right), "200"),
        bearing("the token", f"Bearer {token}", "200"),
        *(Probe(category, f"no token, GET {path} (open)", _get(path), OPEN[path])
          for path in OPEN),
    ]  # fmt: skip
    if event_id:
        probes.append(probe("the token, GET /events/{a real id}", _get(f"/events/{event_id}",
                            right), "200"))  # fmt: skip
    return probes + history_query_probes(category, right)


def history_loopback_probes(event_id: str | None, other_loopback: str | None) -> list[Probe]:
    """crm_writer without a token answers loopback clients, and a probe on 127.0.0.1 is one:
    the TCP peer decides, which no header changes. (A client that is not loopback gets 403:
    tests/crm_writer/test_history_access.py, calling from a non-loopback address.)"""
    category = "history, loopback only"

    def probe(
        name: str,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
        expected: tuple[str, ...] = ("200",),
        source: str | None = None,
    ) -> Probe:
        return Probe(category, name, _get(path, headers), expected, source=source)  # fmt: skip

    probes = [
        probe("from 127.0.0.1, GET /events", "/events"),
        probe("from 127.0.0.1, GET / (the page, once there is one)", "/", (), ("200", "404")),
        probe("X-Forwarded-For: 203.0.113.9 (a header, not the peer)", "/events",
              [("X-Forwarded-For", "203.0.113.9")]),
        probe("Forwarded: for=203.0.113.9", "/events", [("Forwarded", "for=203.0.113.9")]),
        probe("X-Real-IP: 203.0.113.9", "/events", [("X-Real-IP", "203.0.113.9")]),
        probe("a made-up bearer token (none is configured: not looked at)", "/events",
              [("Authorization", "Bearer made-up")]),
        probe("?token= in the query (not looked at)", "/events?token=made-up"),
        # Any web page the operator's browser opens can post to 127.0.0.1: only the page's own
        # form check stands in the way (403; 404 before the page exists).
        Probe(category, "a cross-site form POST /replay (Origin: https://evil.example)",
              (request("POST", "/replay", [("Origin", "https://evil.example"), FORM], b"all=1"),),
              ("403", "404")),
        Probe(category, "a form POST /replay without Origin, Sec-Fetch-Site: cross-site",
              (request("POST", "/replay", [("Sec-Fetch-Site", "cross-site"), FORM], b"all=1"),),
              ("403", "404")),
        *(probe(f"GET {path} (open)", path, (), OPEN[path]) for path in OPEN),
    ]  # fmt: skip
    if other_loopback:
        name = f"from {other_loopback} (127.0.0.0/8 is loopback)"
        probes.append(probe(name, "/events", source=other_loopback))
    if event_id:
        probes.append(probe("GET /events/{a real id}", f"/events/{event_id}"))
    return probes + history_query_probes(category, ())


def http_probes(category: str) -> list[Probe]:
    """The HTTP server's own limits, as on ingest (shared/http_server.py)."""
    many = [(f"X-F-{index}", "a") for index in range(65)]
    return [
        Probe(category, "65 headers", _get("/healthz", many), REFUSED),
        Probe(category, f"GET /aaa…://x ({LONG:,} a)", _get("/" + "a" * LONG + "://x"),
              ("401", "404")),
        Probe(category, "headers one byte per 0.5 s",
              (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", *trickled(b"X-Slow: " + b"a" * 100)),
              (CLOSED,), deadline=SLOW_DEADLINE),
    ]  # fmt: skip
