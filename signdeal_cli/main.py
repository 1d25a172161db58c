"""Entry point of the ``signdeal`` command (subcommands are added in their own modules)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("signdeal: no subcommands yet", file=sys.stderr)
    return 2
