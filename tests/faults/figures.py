"""The fault suite's figures: what each test injected, sent, and what came out of it.

Every fault test records one `FaultRun` (before asserting, so a failing run is counted too); at
the end of the session the ledger is written as JSON to ``bench/results/fault_suite.json``
(``SIGNDEAL_FAULT_FIGURES`` overrides the path), which ``docs/reliability.md`` quotes.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / "bench" / "results" / "fault_suite.json"
PATH_VARIABLE = "SIGNDEAL_FAULT_FIGURES"


@dataclass
class FaultRun:
    test: str
    faults_injected: int
    events_sent: int
    events_accepted: int
    exactly_once: int
    lost: int
    duplicated: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class FaultLedger:
    runs: list[FaultRun] = field(default_factory=list)

    def record(self, run: FaultRun) -> None:
        self.runs.append(run)

    def summary(self) -> dict[str, Any]:
        total = {
            name: sum(getattr(run, name) for run in self.runs)
            for name in (
                "faults_injected",
                "events_sent",
                "events_accepted",
                "exactly_once",
                "lost",
                "duplicated",
            )
        }
        return {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tests": len(self.runs),
            "seconds_in_fault_tests": round(sum(run.seconds for run in self.runs), 1),
            "python": platform.python_version(),
            "totals": total,
            "runs": [asdict(run) for run in self.runs],
        }

    def write(self) -> Path | None:
        if not self.runs:
            return None
        path = Path(os.environ.get(PATH_VARIABLE) or DEFAULT_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2) + b"\n")
        return path
