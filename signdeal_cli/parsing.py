"""How command modules plug into the argument parser: one handler per (sub)command."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TypeAlias

Handler: TypeAlias = Callable[[argparse.Namespace], Awaitable[int]]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    commands: Subcommands,
    name: str,
    handler: Handler,
    *,
    summary: str,
    description: str | None = None,
    epilog: str | None = None,
    json_option: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows ``description`` (or ``summary``) and ``epilog``."""
    parser = commands.add_parser(
        name,
        help=summary,
        description=description or summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if json_option:
        # SUPPRESS: `history --json show ID` keeps the flag given before the subcommand.
        parser.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print JSON for scripts instead of a table",
        )
    parser.set_defaults(handler=handler)
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value
