"""The history page's templates and stylesheet ship with the package: the wheel, and so the
Docker image (which pip-installs the package from the build context), carry every one of them."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from tests.deploy.support import DOCKERIGNORE, REPO

PAGE = REPO / "services" / "crm_writer" / "page"
PAGE_PACKAGE = "services.crm_writer.page"


def page_files() -> list[str]:
    return sorted(
        str(path.relative_to(PAGE))
        for folder in ("templates", "static")
        for path in (PAGE / folder).rglob("*")
        if path.is_file()
    )


def test_every_template_and_static_file_is_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"][PAGE_PACKAGE]

    missing = [name for name in page_files() if not any(fnmatch.fnmatch(name, p) for p in patterns)]

    assert page_files(), "the page has no templates?"
    assert missing == []


def test_the_docker_build_context_keeps_the_page_files() -> None:
    rules = [
        line.strip()
        for line in Path(DOCKERIGNORE).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in page_files():
        path = f"services/crm_writer/page/{name}"
        ignored = False
        for rule in rules:
            negated, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                ignored = not negated
        assert not ignored, path
