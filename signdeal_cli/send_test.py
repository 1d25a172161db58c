"""``signdeal send-test``: the seed's "test with a real signature", without Clicksign.

Posts a correctly signed, realistic webhook to a running ingest, then follows the event through
crm_writer's history API until it is done or parked, and shows the deal it made in RD Station.
With ``--thin`` the webhook is as thin as real traffic can be (no signers, no file name) and its
document is first registered in the sandbox's Clicksign API, from which crm_writer completes it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import aiohttp
from yarl import URL

from sandbox.clicksign import (
    DEFAULT_FILENAME,
    build_webhook,
    encode,
    make_signers,
    post_webhook,
    thin,
    without_signer_email,
)
from sandbox.clicksign_api import CONTROL_PREFIX as CLICKSIGN_CONTROL
from sandbox.local_stack import LOCAL_SECRET
from services.crm_writer.settings import CrmWriterSettings
from services.ingest.settings import IngestSettings
from shared.events import parse_clicksign_webhook
from shared.logging import redact_text
from signdeal_cli.api_access import auth_headers
from signdeal_cli.console import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    parse_time,
    print_json,
    show_duration,
)
from signdeal_cli.deal_readback import read_back_deal
from signdeal_cli.environment import (
    crm_writer_settings,
    ingest_settings,
)
from signdeal_cli.event_follower import FollowResult, follow_event
from signdeal_cli.parsing import Subcommands, add_command, positive_float, positive_int

EPILOG = f"""\
The webhook is signed with CLICKSIGN_WEBHOOK_SECRET, which must be one the ingest accepts
(`make run` uses {LOCAL_SECRET!r} when none is set).

events: sign (default), auto_close, close, document_closed, refusal, cancel, deadline,
        add_signer, … (only CLICKSIGN_TRIGGER_EVENTS make deals; others are answered and dropped)

--thin: the webhook arrives the way real Clicksign traffic can (a finalisation with
        "signers": [] and no file name; a sign whose signer has no e-mail); its full document
        is first registered in the sandbox's Clicksign API (CLICKSIGN_API_BASE_URL, which
        `make run` points at the sandbox), and crm_writer completes the event from it.

exit status: 0 the event was processed (or ignored as configured), 1 it was refused, parked or
             did not finish in time, 2 usage or configuration error

examples:
  signdeal send-test
  signdeal send-test --event auto_close --signers 3
  signdeal send-test --thin --signers 2
  signdeal send-test --url https://signdeal.example.com/webhooks/clicksign \\
      --history-url http://crm-writer.internal:8081
"""


def register(commands: Subcommands) -> None:
    parser = add_command(
        commands,
        "send-test",
        run,
        summary="send a signed sample webhook to ingest and follow it to the deal",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--event", help="Clicksign event name (default: sign; auto_close with --thin)"
    )
    parser.add_argument(
        "--thin",
        action="store_true",
        help="send it without signers and file name, completed from the sandbox's Clicksign API",
    )
    parser.add_argument(
        "--signers", type=positive_int, default=1, help="signers on the document (default 1)"
    )
    parser.add_argument(
        "--url",
        help="ingest's webhook URL (default: http://127.0.0.1:$INGEST_PORT/webhooks/clicksign)",
    )
    parser.add_argument("--document", metavar="KEY", help="document key (default: a new one)")
    parser.add_argument("--filename", default=DEFAULT_FILENAME, help="the document's file name")
    parser.add_argument(
        "--folder",
        default="/Contratos/",
        help="the document's folder in Clicksign, for mapping rules (default /Contratos/)",
    )
    parser.add_argument(
        "--metadata",
        metavar="KEY=VALUE",
        action="append",
        type=_metadata_item,
        default=[],
        help="document metadata, for mapping rules (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=positive_float,
        default=30.0,
        help="seconds to wait for the outcome (default 30)",
    )
    parser.add_argument(
        "--history-url",
        metavar="URL",
        help="crm_writer's HTTP API (default: http://127.0.0.1:$CRM_WRITER_PORT)",
    )
    parser.add_argument(
        "--no-follow", action="store_true", help="only send; do not wait for the outcome"
    )


def _metadata_item(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def _ingest_settings() -> IngestSettings:
    if not os.environ.get("CLICKSIGN_WEBHOOK_SECRET"):
        raise CliError(
            "CLICKSIGN_WEBHOOK_SECRET is not set: the test webhook must be signed with the "
            "secret ingest checks (with `make run` and no secret of your own: "
            f"export CLICKSIGN_WEBHOOK_SECRET={LOCAL_SECRET})",
            EXIT_USAGE,
        )
    return ingest_settings()


async def run(args: argparse.Namespace) -> int:
    ingest = _ingest_settings()
    writer = crm_writer_settings()
    url = args.url or f"http://127.0.0.1:{ingest.ingest_port}/webhooks/clicksign"
    history_url = args.history_url or f"http://127.0.0.1:{writer.crm_writer_port}"
    event_name = args.event or ("auto_close" if args.thin else "sign")
    body = build_webhook(
        event_name,
        document_key=args.document,
        filename=args.filename,
        signers=make_signers(args.signers),
        path=f"{args.folder.rstrip('/')}/{args.filename}",
        metadata=dict(args.metadata),
    )
    document_key = str(body["document"]["key"])
    say = _Printer(quiet=args.json)
    if args.thin:
        await _register_in_clicksign_sandbox(writer, body["document"], say)
        body = _thinned(body)
    report: dict[str, Any] = {
        "event_name": event_name,
        "document_key": document_key,
        "event_id": parse_clicksign_webhook(encode(body)).event_id,
        "ingest_url": url,
        "thin": args.thin,
    }
    say(f"sending {event_name!r} for document {document_key} ({args.signers} signer(s)) to {url}")
    code = await _send(body, url, ingest, event_name, report, say)
    if code is None and not args.no_follow:
        code = await _follow(history_url, writer, args.timeout, report, say)
    if args.json:
        print_json(report)
    return EXIT_OK if code is None else code


def _thinned(body: dict[str, Any]) -> dict[str, Any]:
    thinned = thin(body)
    return without_signer_email(thinned) if body["event"]["name"] == "sign" else thinned


async def _register_in_clicksign_sandbox(
    writer: CrmWriterSettings, document: dict[str, Any], say: _Printer
) -> None:
    """Make the sandbox's Clicksign API know the full document crm_writer will ask for."""
    base = clicksign_sandbox_root(writer)
    url = f"{base}{CLICKSIGN_CONTROL}/documents"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json={"document": document}) as answer,
        ):
            registered = answer.status == 201
    except (aiohttp.ClientError, OSError) as exc:
        reason = redact_text(str(exc) or type(exc).__name__)
        raise CliError(f"cannot reach the Clicksign sandbox at {base}: {reason}") from None
    if not registered:
        raise CliError(
            f"--thin registers the document in the bundled Clicksign sandbox, and "
            f"CLICKSIGN_API_BASE_URL ({base}) is not one (HTTP {answer.status}); `make run` "
            "starts it",
            EXIT_USAGE,
        )
    say(f"registered document {document['key']} in the Clicksign sandbox at {base}")


def clicksign_sandbox_root(writer: CrmWriterSettings) -> str:
    """Where the sandbox's Clicksign API is: CLICKSIGN_API_BASE_URL when this shell sets a
    Clicksign token as crm_writer does; without one, in sandbox mode, the RD sandbox's own address
    (``make run`` serves both there and gives crm_writer the token, not this second terminal)."""
    if writer.clicksign_token is not None:
        return writer.clicksign_api_base_url
    if writer.uses_sandbox:
        return str(URL(writer.rd_base_url).with_path("").with_query(None)).rstrip("/")
    raise CliError(
        "--thin needs crm_writer to complete thin events from a Clicksign sandbox, and neither "
        "CLICKSIGN_ACCESS_TOKEN nor the RD sandbox (no RDSTATION_CRM_TOKEN) is set here",
        EXIT_USAGE,
    )


async def _send(
    body: dict[str, Any],
    url: str,
    ingest: IngestSettings,
    event_name: str,
    report: dict[str, Any],
    say: _Printer,
) -> int | None:
    """Post the webhook; an exit code if that is the end of it, None to follow the event."""
    try:
        status, answer = await post_webhook(url, body, ingest.webhook_secrets[0])
    except (aiohttp.ClientError, OSError) as exc:
        reason = redact_text(str(exc) or type(exc).__name__)
        raise CliError(
            f"cannot reach ingest at {url}: {reason} (is it running? `make run`)"
        ) from None
    report["http_status"] = status
    if status == 202 and isinstance(answer, dict):
        report["event_id"] = answer.get("event_id", report["event_id"])
        say(f"ingest accepted it (HTTP 202); event id: {report['event_id']}")
        return None
    if status == 200:
        expected = event_name not in ingest.clicksign_trigger_events
        report["status"] = "ignored"
        say(
            f"ingest answered 200 and dropped it: {event_name!r} is not one of its trigger events"
            + ("" if expected else " (although CLICKSIGN_TRIGGER_EVENTS here says it is)")
        )
        return EXIT_OK if expected else EXIT_FAILED
    report["status"] = "refused"
    report["error"] = answer.get("error") if isinstance(answer, dict) else answer
    say(f"ingest refused it: HTTP {status}: {report['error']}", error=True)
    if status == 401:
        say("CLICKSIGN_WEBHOOK_SECRET here is not a secret that ingest accepts", error=True)
    if status == 503:
        say("ingest cannot publish: is the broker up and crm_writer's queue declared?", error=True)
    return EXIT_FAILED


async def _follow(
    history_url: str,
    writer: CrmWriterSettings,
    wait_seconds: float,
    report: dict[str, Any],
    say: _Printer,
) -> int:
    say(f"following it in crm_writer's history at {history_url} (up to {wait_seconds:g}s)")
    result = await follow_event(
        history_url,
        str(report["event_id"]),
        wait_seconds,
        on_change=say,
        headers=auth_headers(writer),
    )
    _record_result(result, report)
    if result.event is None or result.timed_out:
        state = result.event.get("status") if result.event else "not in the history yet"
        say(f"no outcome after {wait_seconds:g}s: the event is {state}", error=True)
        say(f"look again with: signdeal history show {report['event_id']}", error=True)
        return EXIT_FAILED
    event = result.event
    if event.get("status") != "done":
        say(f"{event.get('status')} after {event.get('attempts')} attempt(s): {event.get('error')}")
        say(f"details: signdeal history show {report['event_id']}", error=True)
        say(f"re-run it once fixed: signdeal replay {report['event_id']}", error=True)
        return EXIT_FAILED
    deal_id = event.get("deal_id")
    if event.get("outcome") == "ignored":
        why = f": {event['error']}" if event.get("error") else ""
        say(f"done: crm_writer left RD Station unchanged, as the mapping says{why}")
        return EXIT_OK
    say(outcome_line(event))
    if report.get("thin"):
        calls = report["clicksign_calls"] = _clicksign_calls(event)
        say(f"Clicksign's API: {calls} call(s); {event.get('note')}")
    if deal_id:
        report["deal_url"] = writer.deal_web_url(str(deal_id))
        say(f"deal id: {deal_id}")
        say(f"deal:    {report['deal_url']}")
        report["deal"] = await read_back_deal(writer, str(deal_id))
        for line in _deal_lines(report["deal"]):
            say(line)
    say(f"details: signdeal history show {report['event_id']}")
    return EXIT_OK


def outcome_line(event: dict[str, Any]) -> str:
    """``done: deal created in 1.0 s``; after retries, how many and how long it all took, the
    retry tiers' waits included: ``done: deal created after 1 retry (6.5 s)``."""
    outcome = event.get("outcome")
    retries = max(int(event.get("attempts") or 1) - 1, 0)
    if not retries:
        return f"done: deal {outcome} in {show_duration(event.get('duration_ms'))}"
    first, finished = (
        parse_time(event.get("first_attempt_at")),
        parse_time(event.get("finished_at")),
    )
    took = (finished - first).total_seconds() * 1000 if first and finished else None
    times = "retry" if retries == 1 else "retries"
    return f"done: deal {outcome} after {retries} {times} ({show_duration(took)})"


def _clicksign_calls(event: dict[str, Any]) -> int:
    calls = event.get("rd_calls")
    if not isinstance(calls, list):
        return 0
    return sum(1 for call in calls if isinstance(call, dict) and call.get("api") == "clicksign")


def _record_result(result: FollowResult, report: dict[str, Any]) -> None:
    event = result.event or {}
    report["status"] = "timeout" if result.timed_out else event.get("status")
    for key in ("outcome", "deal_id", "attempts", "error", "duration_ms"):
        report[key] = event.get(key)


def _deal_lines(deal: dict[str, Any]) -> list[str]:
    if deal.get("error"):
        return [f"(could not read the deal back from RD Station: {deal['error']})"]
    lines = [f'in RD Station: "{deal.get("name")}" in stage "{deal.get("stage")}"']
    if deal.get("pipeline"):
        lines[0] += f' of pipeline "{deal["pipeline"]}"'
    contacts = deal.get("contacts") or []
    lines.append("contacts: " + ("; ".join(contacts) if contacts else "(none linked)"))
    return lines


class _Printer:
    """Progress lines for people; silent under --json, where only the final object prints."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, line: str, *, error: bool = False) -> None:
        if not self.quiet:
            print(line, file=sys.stderr if error else sys.stdout, flush=True)
