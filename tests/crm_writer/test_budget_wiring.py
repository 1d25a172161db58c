"""Which RD budget crm_writer builds: the store's shared one with PostgreSQL, its own with SQLite;
and the replica count it no longer needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.crm_writer.app import clicksign_rate_limiter, rd_rate_limiter
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.shared_budget import SharedRequestPacer
from services.crm_writer.store import open_store
from shared.settings import load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CrmWriterSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_with_postgresql_every_replica_draws_from_the_store(env: pytest.MonkeyPatch) -> None:
    url = "postgresql://signdeal@127.0.0.1:1/signdeal"  # never connected to here
    env.setenv("STORE_URL", url)
    env.setenv("RDSTATION_RATE_LIMIT_PER_MINUTE", "120")
    settings = load_settings(CrmWriterSettings)

    limiter = rd_rate_limiter(settings, open_store(url))

    assert isinstance(limiter, SharedRequestPacer)
    assert limiter.per_minute == pytest.approx(120 * 0.98)  # the whole budget, not a share


def test_with_sqlite_the_one_process_keeps_its_own_budget(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/signdeal.db"
    env.setenv("STORE_URL", url)
    settings = load_settings(CrmWriterSettings)

    limiter = rd_rate_limiter(settings, open_store(url))

    assert not isinstance(limiter, SharedRequestPacer)
    assert limiter.per_minute == pytest.approx(120 * 0.98)


def test_a_replica_count_left_set_is_accepted_and_divides_nothing(
    env: pytest.MonkeyPatch,
) -> None:
    url = "postgresql://signdeal@127.0.0.1:1/signdeal"
    env.setenv("STORE_URL", url)
    env.setenv("CRM_WRITER_REPLICAS", "4")
    settings = load_settings(CrmWriterSettings)

    limiter = rd_rate_limiter(settings, open_store(url))

    assert settings.crm_writer_replicas == 4  # still read, so that start-up can warn about it
    assert limiter.per_minute == pytest.approx(120 * 0.98)


def test_clicksigns_account_budget_is_shared_too(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    postgres = "postgresql://signdeal@127.0.0.1:1/signdeal"
    settings = load_settings(CrmWriterSettings)

    shared = clicksign_rate_limiter(settings, open_store(postgres), "clicksign-token")
    local = clicksign_rate_limiter(settings, open_store(f"sqlite:///{tmp_path}/s.db"), "t")

    assert isinstance(shared, SharedRequestPacer)
    assert (shared.api, shared.period_seconds) == ("Clicksign", 10.0)
    assert shared.per_period == pytest.approx(50 * 0.98)  # the account's production budget
    assert not isinstance(local, SharedRequestPacer)
