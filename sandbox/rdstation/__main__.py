"""``python -m sandbox.rdstation --host 127.0.0.1 --port 8090 --token sandbox-token``

Its line per API request is at debug level unless ``--log-requests``.

The same process plays Clicksign's API (``--clicksign-token``, default
``sandbox-clicksign-token``) at the same address: ``CLICKSIGN_API_BASE_URL=http://host:port``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiohttp import web

from sandbox.clicksign_api import DEFAULT_CLICKSIGN_TOKEN, ClicksignApiConfig
from sandbox.rdstation.app import create_app
from sandbox.rdstation.config import DEFAULT_TOKEN, SandboxConfig
from sandbox.rdstation.context import SANDBOX_KEY
from sandbox.rdstation.faults import API_PREFIX
from sandbox.rdstation.server import SHUTDOWN_TIMEOUT_SECONDS
from shared.logging import configure_logging, get_logger, register_secret


@dataclass(frozen=True)
class CommandLine:
    host: str
    port: int
    log_level: str
    log_format: str
    config: SandboxConfig
    clicksign: ClicksignApiConfig


def parse_command_line(argv: Sequence[str] | None = None) -> CommandLine:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.rdstation", description="RD Station CRM v1 sandbox"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--token",
        action="append",
        help="a valid ?token= value; repeat or separate with commas for several "
        f"(default {DEFAULT_TOKEN})",
    )
    parser.add_argument(
        "--clicksign-token",
        action="append",
        help="a valid Clicksign access token; repeat or separate with commas for several "
        f"(default {DEFAULT_CLICKSIGN_TOKEN})",
    )
    parser.add_argument("--seed", default="signdeal", help="id seed: same seed, same ids")
    parser.add_argument(
        "--state-file",
        type=Path,
        help="keep deals, contacts and Clicksign documents in this JSON file across restarts "
        "(make run: data/sandbox-state.json); default: in memory only",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=120, help="requests per token per window; 0 = off"
    )
    parser.add_argument("--rate-window", type=float, default=60.0, help="window in seconds")
    parser.add_argument("--retry-after", action="store_true", help="send Retry-After on 429")
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="one info line per API request (default: at debug level, seen with --log-level DEBUG)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--log-format", choices=("json", "console"), default=os.environ.get("LOG_FORMAT", "json")
    )
    args = parser.parse_args(argv)
    tokens = [t.strip() for raw in args.token or [DEFAULT_TOKEN] for t in raw.split(",")]
    requests_level: Literal["info", "debug"] = "info" if args.log_requests else "debug"
    config = SandboxConfig(
        tokens=tuple(token for token in tokens if token),
        seed=args.seed,
        rate_limit=args.rate_limit or None,
        rate_limit_window_seconds=args.rate_window,
        retry_after_header=args.retry_after,
        access_log_level=requests_level,
        state_file=args.state_file,
    )
    clicksign_tokens = [
        t.strip()
        for raw in args.clicksign_token or [DEFAULT_CLICKSIGN_TOKEN]
        for t in raw.split(",")
    ]
    clicksign = ClicksignApiConfig(
        tokens=tuple(token for token in clicksign_tokens if token), access_log_level=requests_level
    )
    return CommandLine(args.host, args.port, args.log_level, args.log_format, config, clicksign)


def main(argv: Sequence[str] | None = None) -> None:
    command = parse_command_line(argv)
    host, port, config = command.host, command.port, command.config
    configure_logging("rd-sandbox", level=command.log_level, log_format=command.log_format)
    for token in (*config.tokens, *command.clicksign.tokens):
        register_secret(token)
    app = create_app(config, command.clicksign)
    state = app[SANDBOX_KEY].state
    get_logger().info(
        "rd_sandbox.listening",
        url=f"http://{host}:{port}{API_PREFIX}",
        control_url=f"http://{host}:{port}/__sandbox",
        clicksign_url=f"http://{host}:{port}",
        tokens=len(config.tokens),
        rate_limit=config.rate_limit,
        rate_limit_window_seconds=config.rate_limit_window_seconds,
        ids={**vars(state.ids), "default_stage_id": state.default_stage_id},
    )
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        handle_signals=True,
    )
    # Like ingest and crm_writer: make run's Ctrl-C shows a line per service that stopped.
    get_logger().info("service.stopped")


if __name__ == "__main__":
    main()
