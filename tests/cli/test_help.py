"""Every subcommand has ``--help``; the installed console script runs; usage errors exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.process_env import service_env
from services.crm_writer.store import Store
from signdeal_cli.main import main

SCRIPT = Path(sys.executable).parent / "signdeal"
COMMANDS = [
    ["check"],
    ["rd"],
    ["rd", "pipelines"],
    ["rd", "stages"],
    ["rd", "users"],
    ["rd", "custom-fields"],
    ["send-test"],
    ["history"],
    ["history", "show"],
    ["history", "forget"],
    ["replay"],
]


def test_installed_script_prints_help() -> None:
    finished = subprocess.run(
        [str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 0, finished.stderr
    for command in ("check", "rd", "send-test", "history", "replay"):
        assert command in finished.stdout
    assert "from zero to first deal" in finished.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_subcommand_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    assert "usage: signdeal " + " ".join(command) in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: signdeal" in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--colour"]) == 2
    assert "unrecognized arguments: --colour" in capsys.readouterr().err


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
async def test_a_reader_that_goes_away_gets_no_traceback(
    sqlite_store: Store, tmp_path: Path, buffered: bool
) -> None:
    """``signdeal history | head -1``: the pipe closes before the command is done writing
    (at its last flush when stdout is buffered, at the first print when it is not)."""
    env = service_env(STORE_URL=f"sqlite:///{tmp_path}/signdeal.db")
    if buffered:
        del env["PYTHONUNBUFFERED"]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        finished = subprocess.run(
            [str(SCRIPT), "history"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)

    assert finished.stderr == ""
    assert finished.returncode == 1
