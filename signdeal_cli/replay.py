"""``signdeal replay``: send parked events back to crm_writer once the cause is fixed."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import aio_pika
from aiormq.exceptions import ChannelNotFoundEntity

from services.crm_writer.replay import ReplayReport, replay_parked
from services.crm_writer.settings import CrmWriterSettings
from shared.logging import redact_text
from signdeal_cli.console import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    clip,
    print_json,
    print_table,
)
from signdeal_cli.environment import crm_writer_settings, display_url
from signdeal_cli.history_sources import history_store
from signdeal_cli.parsing import Subcommands, add_command, positive_int

CONNECT_TIMEOUT_SECONDS = 10.0
# Who the history says replayed an event sent back by this command.
REPLAYED_BY = "signdeal replay"

EPILOG = """\
Parked events are in the broker's parking lot (crm_writer.deals.dead); `signdeal history
--status parked` lists them with their errors. A replayed event is processed as new, with a fresh
retry budget; an event already done is not applied twice. The history records the replay (by
"signdeal replay", with the time) where STORE_URL reaches crm_writer's store.

exit status: 0 replayed what was asked, 1 some of it was not in the parking lot or the broker
             failed, 2 usage or configuration error

examples:
  signdeal replay 0f6c1e9a2b7d4c3e8f1a5b6c7d8e9f00
  signdeal replay --document 3f1c2a4e-…
  signdeal replay --all-parked --limit 100
"""


def register(commands: Subcommands) -> None:
    parser = add_command(
        commands,
        "replay",
        run,
        summary="re-run parked events (by id, by document, or all of them)",
        epilog=EPILOG,
    )
    parser.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="parked events to re-run")
    parser.add_argument("--document", metavar="KEY", help="every parked event of this document")
    parser.add_argument("--all-parked", action="store_true", help="every parked event")
    parser.add_argument("--limit", type=positive_int, help="re-run at most this many")


async def run(args: argparse.Namespace) -> int:
    if not (args.event_ids or args.document or args.all_parked):
        raise CliError("say what to replay: EVENT_ID…, --document KEY or --all-parked", EXIT_USAGE)
    if args.all_parked and (args.event_ids or args.document):
        raise CliError(
            "--all-parked replays everything: give no EVENT_ID or --document", EXIT_USAGE
        )
    settings = crm_writer_settings()
    report = await _replay(settings, args)
    recorded = await _record(settings, report)
    missing = [
        event_id
        for event_id in dict.fromkeys(args.event_ids)
        if event_id not in report.replayed_ids
    ]
    failed = bool(report.error or missing or (args.document and not report.replayed))
    if args.json:
        print_json(
            {
                "replayed": report.replayed,
                "kept": len(report.kept),
                "not_parked": missing,
                "truncated": report.truncated,
                "error": report.error,
                "recorded_in_history": bool(report.replayed) and recorded is None,
            }
        )
    else:
        _print_report(settings, report, missing, args.document)
        if report.replayed and recorded is not None:
            print(f"not recorded in the history as replayed: {recorded}")
    return EXIT_FAILED if failed else EXIT_OK


async def _replay(settings: CrmWriterSettings, args: argparse.Namespace) -> ReplayReport:
    topology = settings.topology()
    try:
        connection = await asyncio.wait_for(
            aio_pika.connect(settings.amqp_url, timeout=CONNECT_TIMEOUT_SECONDS),
            CONNECT_TIMEOUT_SECONDS,
        )
    except Exception as exc:
        reason = redact_text(str(exc) or type(exc).__name__)
        raise CliError(f"cannot connect to {display_url(settings.amqp_url)}: {reason}") from None
    async with connection:
        try:
            return await replay_parked(
                connection,
                topology,
                event_ids=args.event_ids or None,
                document_key=args.document,
                all_parked=args.all_parked,
                limit=args.limit,
            )
        except ChannelNotFoundEntity:
            raise CliError(
                f"the broker has no parking lot {topology.dead_queue}: crm_writer has not "
                "declared its queues there (AMQP_URL and AMQP_TOPOLOGY_PREFIX as crm_writer's?)"
            ) from None


async def _record(settings: CrmWriterSettings, report: ReplayReport) -> str | None:
    """Write who replayed what, and when, into the history (the page shows it next to its own
    replays); why not, or None when it was written. The events are back in the work queue
    either way."""
    replayed = report.replayed_event_ids
    if not replayed:
        return None
    try:
        async with history_store(settings.store_url) as store:
            await store.record_replay(replayed, by=REPLAYED_BY, at=datetime.now(UTC))
    except CliError as exc:
        return str(exc)
    except Exception as exc:
        return redact_text(str(exc) or type(exc).__name__)
    return None


def _print_report(
    settings: CrmWriterSettings, report: ReplayReport, missing: list[str], document: str | None
) -> None:
    queue = settings.topology().work_queue
    if report.replayed:
        print(f"replayed {len(report.replayed)} event(s) back to {queue}:")
        rows = [
            (event.event_id, event.document_key, clip(event.reason, 70))
            for event in report.replayed
        ]
        print_table(("EVENT ID", "DOCUMENT", "WAS PARKED BECAUSE"), rows)
    else:
        print("nothing replayed")
    if missing:
        print(f"not in the parking lot: {', '.join(missing)} (`signdeal history show ID`)")
    if document and not report.replayed:
        print(f"no parked event of document {document}")
    if report.kept:
        print(f"{len(report.kept)} other parked event(s) stay parked")
    if report.truncated:
        print("the parking lot was not read to the end: run the command again for the rest")
    if report.error:
        print(f"stopped: {report.error}")
    if report.replayed:
        print("follow them with: signdeal history --since 10m")
