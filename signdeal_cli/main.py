"""Entry point of the ``signdeal`` command: one subcommand per operator task.

Configuration comes from the services' environment variables (see the README's table).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from signdeal_cli import check, history, rd, replay, send_test
from signdeal_cli.console import EXIT_FAILED, EXIT_USAGE, CliError
from signdeal_cli.environment import quiet_logging

DESCRIPTION = """\
Operate signdeal: Clicksign "document signed" webhooks to RD Station CRM deals.

Reads the same environment variables as the services (RDSTATION_CRM_TOKEN, RDSTATION_DEAL_STAGE_ID,
AMQP_URL, STORE_URL, …); without RDSTATION_CRM_TOKEN it works against the bundled RD sandbox.
"""

EPILOG = """\
from zero to first deal:
  make run                      # in another terminal: sandbox, ingest and crm_writer
  signdeal check                # is everything reachable and configured?
  signdeal send-test            # a signed sample webhook, followed to its deal
  signdeal history show EVENT_ID

exit status: 0 ok, 1 a check failed or something was not found, 2 usage or configuration error
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signdeal",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(json=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check.register(commands)
    rd.register(commands)
    send_test.register(commands)
    history.register(commands)
    replay.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (argparse's own exits included)."""
    try:
        code = _run(argv)
        # Flushed here, not at exit: a reader that went away is then an exception we handle.
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    return code


def _reader_gone() -> int:
    """``signdeal … | head``: the reader closed the pipe. Stop quietly, as CPython's docs advise
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe): stdout is pointed at
    devnull so that the interpreter's last flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_FAILED


def _run(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with quiet_logging():
            code: int = asyncio.run(args.handler(args))
    except CliError as exc:
        print(f"signdeal: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
