"""docs/logging.md lists every log event the code can emit, with its level."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[2]
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
EVENT_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def emitted_events() -> dict[str, set[str]]:
    """Every ``<logger>.<level>("dotted.name", …)`` call in the services, shared and the sandbox."""
    found: dict[str, set[str]] = defaultdict(set)
    for folder in ("services", "shared", "sandbox"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in LEVELS or not node.args:
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant) and EVENT_NAME.match(str(first.value)):
                    level = "error" if node.func.attr == "exception" else node.func.attr
                    found[str(first.value)].add(level)
    return found


def documented_events() -> dict[str, str]:
    text = (ROOT / "docs" / "logging.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_.]+)` \| ([^|]+) \|", text, flags=re.MULTILINE)
    return {name: levels for name, levels in rows}


def test_every_emitted_event_is_documented_with_its_level() -> None:
    documented = documented_events()
    missing = sorted(set(emitted_events()) - set(documented))
    assert missing == [], f"add these to docs/logging.md: {missing}"
    wrong = {
        name: (levels, documented[name])
        for name, levels in emitted_events().items()
        if not all(level in documented[name] for level in levels)
    }
    assert wrong == {}


def test_the_collector_finds_the_core_events() -> None:
    names = set(emitted_events())
    assert {"webhook.received", "event.published", "event.consumed", "deal.created"} <= names
