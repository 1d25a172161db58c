"""Check every pin of constraints.txt against PyPI's advisory data, from a network that serves
PyPI's project endpoint but not always its per-release one (docs/dependency-audit.md).

For each ``name==version``: PyPI's release endpoint (``/pypi/<name>/<version>/json``) lists the
advisories (OSV: PyPA advisory database, GitHub advisories) for exactly that release, as
pip-audit's ``pypi`` service reads them. Where that endpoint does not answer, the project endpoint
(``/pypi/<name>/json``) lists them for the *latest* release only: a pin that is the latest is
checked with it, an older pin is reported as not checkable from here. Exit 1 when an advisory
affects a pin or PyPI cannot be reached, 0 otherwise; the summary says what was checked how.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PYPI = "https://pypi.org/pypi"
TIMEOUT_SECONDS = 20
WORKERS = 8


@dataclass(frozen=True)
class Verdict:
    name: str
    version: str
    how: str  # "release", "latest", "not checkable", "unreachable"
    advisories: tuple[str, ...] = ()
    latest: str | None = None


def pins(constraints: Path) -> list[tuple[str, str]]:
    """``(name, version)`` of every ``name==version`` line (comments and markers ignored)."""
    found = []
    for line in constraints.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in spec:
            name, version = (part.strip() for part in spec.split("==", 1))
            found.append((name, version))
    return found


def _json(url: str) -> dict[str, object] | None:
    """The JSON at ``url``; None for a 404; raises OSError when PyPI cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            payload: dict[str, object] = json.load(answer)
            return payload
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise OSError(f"{url}: HTTP {exc.code}") from exc


def _advisories(payload: dict[str, object]) -> tuple[str, ...]:
    found = payload.get("vulnerabilities")
    if not isinstance(found, list):
        return ()
    return tuple(str(item.get("id")) for item in found if isinstance(item, dict))


def check(name: str, version: str) -> Verdict:
    try:
        release = _json(f"{PYPI}/{name}/{version}/json")
        if release is not None:
            return Verdict(name, version, "release", _advisories(release))
        project = _json(f"{PYPI}/{name}/json")
    except OSError as exc:
        return Verdict(name, version, "unreachable", (str(exc),))
    if project is None:
        return Verdict(name, version, "unreachable", ("not on PyPI",))
    info = project.get("info")
    latest = str(info.get("version")) if isinstance(info, dict) else None
    if latest == version:
        return Verdict(name, version, "latest", _advisories(project), latest)
    return Verdict(name, version, "not checkable", (), latest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("constraints", type=Path, nargs="?", default=Path("constraints.txt"))
    args = parser.parse_args(argv)
    wanted = pins(args.constraints)
    with ThreadPoolExecutor(WORKERS) as pool:
        verdicts = list(pool.map(lambda pin: check(*pin), wanted))
    affected = [v for v in verdicts if v.how in ("release", "latest") and v.advisories]
    unreachable = [v for v in verdicts if v.how == "unreachable"]
    unchecked = [v for v in verdicts if v.how == "not checkable"]
    for verdict in affected:
        print(f"ADVISORY {verdict.name}=={verdict.version}: {', '.join(verdict.advisories)}")
    for verdict in unreachable:
        print(f"UNREACHABLE {verdict.name}=={verdict.version}: {verdict.advisories[0]}")
    for verdict in unchecked:
        print(
            f"not checkable here: {verdict.name}=={verdict.version} "
            f"(latest {verdict.latest}; PyPI's release endpoint does not answer this network)"
        )
    by_release = sum(v.how == "release" for v in verdicts)
    by_latest = sum(v.how == "latest" for v in verdicts)
    print(
        f"audit: {len(verdicts)} pins; {by_release} checked by release, {by_latest} checked as "
        f"the latest release, {len(unchecked)} not checkable from here, {len(affected)} with an "
        f"advisory, {len(unreachable)} unreachable"
    )
    return 1 if affected or unreachable else 0


if __name__ == "__main__":
    sys.exit(main())
