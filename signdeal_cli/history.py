"""``signdeal history``: the automation history, list and details (the seed's "Histórico")."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from services.crm_writer.history_query import parse_since
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import EventStatus
from services.crm_writer.store.base import MAX_LIST_LIMIT
from signdeal_cli import history_forget
from signdeal_cli.api_access import auth_headers
from signdeal_cli.console import EXIT_OK, CliError, clip, print_json, print_table, show_time
from signdeal_cli.environment import crm_writer_settings
from signdeal_cli.event_details import detail_lines
from signdeal_cli.history_sources import EventFilter, open_history
from signdeal_cli.parsing import Subcommands, add_command, positive_int

EPILOG = """\
examples:
  signdeal history                          the 50 latest events
  signdeal history --status parked          what waits for `signdeal replay`
  signdeal history --since 2h --document 3f1c…
  signdeal history show EVENT_ID            one event in detail
  signdeal history forget --email X         erase a person's data (LGPD; --dry-run first)
  signdeal history --api http://crm-writer.internal:8081   a remote deployment
                        (with crm_writer's CRM_WRITER_API_TOKEN in the environment)

times are UTC, shown with their offset (+00:00); --since without an offset is UTC too.
"""


def register(commands: Subcommands) -> None:
    parser = add_command(
        commands,
        "history",
        list_history,
        summary="list processed events; `history show EVENT_ID` for the details",
        description=(
            "The automation history: every Clicksign event crm_writer handled, newest first. "
            "Reads the store (STORE_URL) unless --api points at crm_writer's HTTP API."
        ),
        epilog=EPILOG,
    )
    _add_source_option(parser)
    parser.add_argument(
        "--status", choices=[status.value for status in EventStatus], help="only this status"
    )
    parser.add_argument("--document", metavar="KEY", help="only this Clicksign document")
    parser.add_argument(
        "--since",
        metavar="WHEN",
        type=_since,
        help="only events attempted since: 30m, 1h, 2d, 1w, or ISO 8601 (2025-03-01T12:00)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=50,
        help=f"at most this many events (default 50, max {MAX_LIST_LIMIT})",
    )
    actions = parser.add_subparsers(
        dest="history_command", metavar="{show EVENT_ID, forget --email EMAIL}"
    )
    show_parser = add_command(
        actions,
        "show",
        show_event,
        summary="one event: what came from Clicksign, what was sent to RD, RD's answers",
        description=(
            "One event in detail: what came from Clicksign (event, document, signer), each "
            "request sent to RD Station with its body and RD's answer, attempts, timings, error."
        ),
    )
    show_parser.add_argument("event_id", metavar="EVENT_ID")
    show_parser.add_argument(
        "--full",
        action="store_true",
        help="also print the whole Clicksign webhook body and RD's full answers",
    )
    _add_source_option(show_parser)
    history_forget.register(actions)


def _add_source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="read crm_writer's HTTP history API at URL (e.g. http://127.0.0.1:8081) "
        "instead of the store",
    )


def _since(text: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def list_history(args: argparse.Namespace) -> int:
    settings = crm_writer_settings()
    wanted = EventFilter(
        status=EventStatus(args.status) if args.status else None,
        document_key=args.document,
        since=args.since,
        limit=min(args.limit, MAX_LIST_LIMIT),
    )
    api = getattr(args, "api", None)
    async with open_history(settings.store_url, api, auth_headers(settings)) as history:
        events = await history.list_events(wanted)
    if args.json:
        print_json(events)
        return EXIT_OK
    rows = [
        (
            show_time(event.get("last_attempt_at")),
            event.get("event_id"),
            event.get("event_name"),
            _status(event),
            event.get("attempts"),
            event.get("deal_id"),
            event.get("document_key"),
            _error_or_note(event),
        )
        for event in events
    ]
    headers = (
        "LAST ATTEMPT",
        "EVENT ID",
        "EVENT",
        "STATUS",
        "TRIES",
        "DEAL",
        "DOCUMENT",
        "ERROR/NOTE",
    )
    print_table(headers, rows, empty="(no events match)")
    return EXIT_OK


async def show_event(args: argparse.Namespace) -> int:
    settings = crm_writer_settings()
    api = getattr(args, "api", None)
    async with open_history(settings.store_url, api, auth_headers(settings)) as history:
        event = await history.get_event(args.event_id)
    if event is None:
        where = api or "the store"
        raise CliError(f"no event {args.event_id} in the history ({where})")
    if args.json:
        print_json(event)
        return EXIT_OK
    deal_id = event.get("deal_id")
    link = _deal_link(settings, str(deal_id), remote=bool(api)) if deal_id else None
    print("\n".join(detail_lines(event, link, full=args.full)))
    return EXIT_OK


def _status(event: dict[str, Any]) -> str:
    outcome = event.get("outcome")
    return f"{event.get('status')} ({outcome})" if outcome else str(event.get("status"))


def _deal_link(settings: CrmWriterSettings, deal_id: str, *, remote: bool) -> str | None:
    # The local sandbox is not where a remote deployment's deals are.
    if remote and settings.uses_sandbox:
        return None
    return settings.deal_web_url(deal_id)


def _error_or_note(event: dict[str, Any]) -> str | None:
    """What went wrong, or else why the event ended as it did (why it was ignored)."""
    text = event.get("error") or event.get("note")
    return clip(str(text), 50) if text else None
