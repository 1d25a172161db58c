"""``make run``: crm_writer's history stays on this machine unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.local_stack import banner, local_environment, sandbox_arguments


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "CRM_WRITER_HOST",
        "CRM_WRITER_API_TOKEN",
        "CLICKSIGN_WEBHOOK_SECRET",
        "SANDBOX_LOG_REQUESTS",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_crm_writer_listens_on_loopback_by_default(clean: pytest.MonkeyPatch) -> None:
    env, _ = local_environment()
    assert env["CRM_WRITER_HOST"] == "127.0.0.1"


def test_a_host_of_ones_own_is_kept(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("CRM_WRITER_HOST", "0.0.0.0")
    env, _ = local_environment()
    assert env["CRM_WRITER_HOST"] == "0.0.0.0"


def test_the_banner_shows_how_to_send_the_token_without_printing_it(
    clean: pytest.MonkeyPatch,
) -> None:
    clean.setenv("CRM_WRITER_API_TOKEN", "local-history-token-0123456789")
    env, notes = local_environment()

    text = banner(env, notes)

    assert 'curl -H "Authorization: Bearer $CRM_WRITER_API_TOKEN"' in text
    assert "local-history-token-0123456789" not in text


def test_the_sandbox_logs_its_requests_only_when_asked(clean: pytest.MonkeyPatch) -> None:
    quiet, _ = local_environment()
    clean.setenv("SANDBOX_LOG_REQUESTS", "1")
    verbose, _ = local_environment()

    assert "--log-requests" not in sandbox_arguments(quiet)
    assert "--log-requests" in sandbox_arguments(verbose)


def test_a_store_left_without_the_sandbox_state_says_make_reset(
    clean: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean.delenv("STORE_URL", raising=False)
    clean.delenv("RDSTATION_CRM_TOKEN", raising=False)
    clean.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "signdeal.db").write_bytes(b"")

    _, alone = local_environment()
    (tmp_path / "data" / "sandbox-state.json").write_bytes(b"{}")
    _, together = local_environment()

    assert any("`make reset` starts both fresh" in note for note in alone)
    assert not any("make reset" in note for note in together)
