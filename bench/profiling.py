"""Sampling profiles of a running service with py-spy (attached by PID, no code change).

`record` samples for a few seconds into a speedscope JSON file under ``bench/results`` (CPU only:
idle frames are left out), `top_costs` reads it back into the functions that cost the most, by
own time (``self``) and by time including callees (``total``).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.common import REPO_ROOT, log


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, output: Path, rate: int = 200) -> bool:
    """Sample ``pid`` for ``seconds``; False (and a note) when py-spy is missing or fails."""
    binary = py_spy()
    if binary is None:
        log("py-spy not installed: no profile (pip install py-spy)")
        return False
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--nonblocking",
        "--format",
        "speedscope",
        "--output",
        str(output),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0 or not output.exists():  # noqa: ASYNC240
        log(f"py-spy failed ({process.returncode}): {out.decode(errors='replace')[-400:]}")
        return False
    return True


def _where(path: str) -> tuple[str, str]:
    """(package, short path) of a source file: ``stdlib:asyncio``, ``aiohttp``, ``services``…"""
    if "site-packages/" in path:
        short = path.split("site-packages/", 1)[1]
        return short.split("/", 1)[0].removesuffix(".py"), short
    if "/lib/python3" in path:
        short = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
        return "stdlib:" + short.split("/", 1)[0].removesuffix(".py"), short
    root = str(REPO_ROOT) + "/"
    if path.startswith(root):
        short = path.removeprefix(root)
        return short.split("/", 1)[0], short
    return path, path


def top_costs(speedscope: Path, limit: int = 12) -> dict[str, Any]:
    """Own-time shares of the hottest functions and packages, and the inclusive share of the
    project's own functions (``services``, ``shared``), over every thread's CPU samples."""
    data = orjson.loads(speedscope.read_bytes())
    frames = []
    for frame in data["shared"]["frames"]:
        package, short = _where(str(frame.get("file", "")))
        frames.append((f"{frame.get('name')} ({short}:{frame.get('line')})", package, short))
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0.0
    for profile in data["profiles"]:
        weights = profile.get("weights") or [1.0] * len(profile["samples"])
        for stack, weight in zip(profile["samples"], weights, strict=True):
            if not stack:
                continue
            total += weight
            leaf, package, _ = frames[stack[-1]]
            own[leaf] += weight
            packages[package] += weight
            # By function, not line: a coroutine shows up on several lines of one function.
            ours = {frames[i][0].split(" (")[0] + f" ({frames[i][2]})" for i in stack}
            for name in {name for name in ours if name.split("(")[-1].split("/")[0] in _OURS}:
                inclusive[name] += weight

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * count / total, 1)) for name, count in counter.most_common(limit)]

    return {
        "cpu_seconds_sampled": round(total, 2),
        "self": shares(own),
        "self_by_package": shares(packages),
        "project_inclusive": shares(inclusive),
    }


_OURS = frozenset({"services", "shared"})
