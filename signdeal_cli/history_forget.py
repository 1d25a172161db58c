"""``signdeal history forget --email X``: erase one person from the history (LGPD).

Works on the store itself (``STORE_URL``), like ``signdeal history`` without ``--api``. Prints
what went: counts, event ids, document keys; never the person's other data (the e-mail the
operator typed is not repeated either). What it cannot reach is said every time: RD Station's
contact, Clicksign's documents and the messages still in the broker.
"""

from __future__ import annotations

import argparse

from services.crm_writer.erasure import Erasure, erase_person, find_person
from signdeal_cli.console import EXIT_OK, EXIT_USAGE, CliError, print_json, render_table
from signdeal_cli.environment import crm_writer_settings, display_url
from signdeal_cli.history_sources import history_store
from signdeal_cli.parsing import Subcommands, add_command

EPILOG = """\
What goes: every event whose payload names the e-mail as a signer (the whole history row: payload,
RD requests and answers, error), the e-mail → contact row, and the deal name of those events'
documents (it may hold the person's name). The document → deal rows stay: they hold no personal
data and keep a late event from creating a second deal.

What stays: the contact in RD Station CRM (remove it there), the documents in Clicksign, and
the messages still in the broker (a parked event keeps its data in the parking lot).

examples:
  signdeal history forget --email ana@example.com --dry-run
  signdeal history forget --email ana@example.com
"""

NOT_TOUCHED = (
    "not touched: the contact and deals in RD Station CRM (remove the person there: Contatos), "
    "the documents in Clicksign, and messages still in the broker"
)


def register(actions: Subcommands) -> None:
    parser = add_command(
        actions,
        "forget",
        forget,
        summary="erase a person's data from the history (LGPD): --email X [--dry-run]",
        description=(
            "Erase one person from crm_writer's store (STORE_URL): the events that name the "
            "e-mail as a signer, its e-mail → contact row, and the deal names of those documents."
        ),
        epilog=EPILOG,
    )
    parser.add_argument("--email", required=True, metavar="EMAIL", help="the person's e-mail")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be erased; change nothing"
    )


async def forget(args: argparse.Namespace) -> int:
    email = args.email.strip()
    if "@" not in email:
        raise CliError(f"--email {email!r} is not an e-mail address", EXIT_USAGE)
    settings = crm_writer_settings(stage_required=False)
    async with history_store(settings.store_url) as store:
        if args.dry_run:
            erasure = await find_person(store, email)
        else:
            erasure = await erase_person(store, email)
    if getattr(args, "json", False):
        print_json(_as_json(erasure, dry_run=args.dry_run))
        return EXIT_OK
    where = display_url(settings.store_url)
    print("\n".join(report_lines(erasure, where, dry_run=args.dry_run)))
    return EXIT_OK


def report_lines(erasure: Erasure, where: str, *, dry_run: bool) -> list[str]:
    """What was (or would be) erased, in lines without any of the person's data."""
    verb = "would erase" if dry_run else "erased"
    if erasure.empty:
        lines = [f"nothing in the history ({where}) names this e-mail as a signer"]
    else:
        lines = [
            f"{verb} from the history ({where}):",
            f"  {len(erasure.events)} event(s)",
            f"  {'1' if erasure.contact_id else '0'} e-mail → contact row"
            + (f" (RD contact {erasure.contact_id})" if erasure.contact_id else ""),
            f"  {len(erasure.documents_named)} deal name(s) of their documents (the document "
            "→ deal rows stay)",
        ]
    if erasure.events:
        rows = [
            (event.event_id, event.status.value, event.document_key) for event in erasure.events
        ]
        lines += ["", render_table(("EVENT ID", "STATUS", "DOCUMENT"), rows)]
    if erasure.parked:
        lines += [
            "",
            f"{len(erasure.parked)} of them parked: their messages still wait in the parking lot "
            "with the person's data, and `signdeal replay` would write them back; remove them "
            "from the parking lot if they must go too",
        ]
    if erasure.mentioned_elsewhere:
        lines += [
            "",
            f"kept: {len(erasure.mentioned_elsewhere)} other event(s) hold the e-mail, but not as "
            f"a signer's: {', '.join(erasure.mentioned_elsewhere)}",
        ]
    return [*lines, "", NOT_TOUCHED]


def _as_json(erasure: Erasure, *, dry_run: bool) -> dict[str, object]:
    return {
        "dry_run": dry_run,
        "events": [
            {"event_id": e.event_id, "status": e.status.value, "document_key": e.document_key}
            for e in erasure.events
        ],
        "contact_id": erasure.contact_id,
        "deal_names_cleared": erasure.documents_named,
        "parked": [event.event_id for event in erasure.parked],
        "mentioned_elsewhere": erasure.mentioned_elsewhere,
        "not_touched": NOT_TOUCHED,
    }
