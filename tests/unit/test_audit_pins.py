"""tools/audit_pins.py: which pins it can vouch for from this network, and how."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import audit_pins

PROJECT = {"info": {"version": "2.0"}, "vulnerabilities": [{"id": "GHSA-latest"}]}


def answers(release: dict[str, object] | None, project: dict[str, object] | None):  # type: ignore[no-untyped-def]
    def fake(url: str) -> dict[str, object] | None:
        return project if url.endswith("/json") and url.count("/") == 5 else release

    return fake


def test_a_release_endpoint_that_answers_is_authoritative(monkeypatch: pytest.MonkeyPatch) -> None:
    release = {"vulnerabilities": [{"id": "PYSEC-1"}]}
    monkeypatch.setattr(audit_pins, "_json", answers(release, PROJECT))

    assert audit_pins.check("pkg", "1.0") == audit_pins.Verdict(
        "pkg", "1.0", "release", ("PYSEC-1",)
    )


def test_without_it_the_latest_release_is_checked_with_the_projects_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_pins, "_json", answers(None, PROJECT))

    assert audit_pins.check("pkg", "2.0").advisories == ("GHSA-latest",)
    older = audit_pins.check("pkg", "1.0")
    assert (older.how, older.advisories, older.latest) == ("not checkable", (), "2.0")


def test_an_advisory_or_an_unreachable_pypi_fails_the_audit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# pins\npkg==2.0 ; python_version >= '3.11'\n", encoding="utf-8")
    monkeypatch.setattr(audit_pins, "_json", answers(None, PROJECT))
    assert audit_pins.main([str(constraints)]) == 1

    monkeypatch.setattr(audit_pins, "_json", answers(None, {"info": {"version": "2.0"}}))
    assert audit_pins.main([str(constraints)]) == 0

    def down(url: str) -> None:
        raise OSError("pypi.org: no route")

    monkeypatch.setattr(audit_pins, "_json", down)
    assert audit_pins.main([str(constraints)]) == 1
