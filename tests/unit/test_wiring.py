"""How crm_writer is put together (`services.crm_writer.wiring`): the deal settings and the stage
new deals enter, the consumer's retry tiers, and which request budget it builds — the store's
shared one with PostgreSQL, its own with SQLite — with the replica count it no longer needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.shared_budget import SharedRequestPacer
from services.crm_writer.store import open_store
from services.crm_writer.wiring import (
    clicksign_rate_limiter,
    deal_consumer,
    deal_settings,
    entry_stage,
    rd_rate_limiter,
)
from shared.settings import load_settings
from shared.topology import Topology


def test_with_postgresql_every_replica_draws_from_the_store(clean_env: pytest.MonkeyPatch) -> None:
    url = "postgresql://signdeal@127.0.0.1:1/signdeal"  # never connected to here
    clean_env.setenv("STORE_URL", url)
    clean_env.setenv("RDSTATION_RATE_LIMIT_PER_MINUTE", "120")
    settings = load_settings(CrmWriterSettings)

    limiter = rd_rate_limiter(settings, open_store(url))

    assert isinstance(limiter, SharedRequestPacer)
    assert limiter.per_minute == pytest.approx(120 * 0.98)  # the whole budget, not a share


def test_with_sqlite_the_one_process_keeps_its_own_budget(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/signdeal.db"
    clean_env.setenv("STORE_URL", url)
    settings = load_settings(CrmWriterSettings)

    limiter = rd_rate_limiter(settings, open_store(url))

    assert not isinstance(limiter, SharedRequestPacer)
    assert limiter.per_minute == pytest.approx(120 * 0.98)


def test_a_replica_count_left_set_is_accepted_and_divides_nothing(
    clean_env: pytest.MonkeyPatch,
) -> None:
    url = "postgresql://signdeal@127.0.0.1:1/signdeal"
    clean_env.setenv("STORE_URL", url)
    clean_env.setenv("CRM_WRITER_REPLICAS", "4")
    settings = load_settings(CrmWriterSettings)

    limiter = rd_rate_limiter(settings, open_store(url))

    assert settings.crm_writer_replicas == 4  # still read, so that start-up can warn about it
    assert limiter.per_minute == pytest.approx(120 * 0.98)


def test_clicksigns_account_budget_is_shared_too(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    postgres = "postgresql://signdeal@127.0.0.1:1/signdeal"
    settings = load_settings(CrmWriterSettings)

    shared = clicksign_rate_limiter(settings, open_store(postgres), "clicksign-token")
    local = clicksign_rate_limiter(settings, open_store(f"sqlite:///{tmp_path}/s.db"), "t")

    assert isinstance(shared, SharedRequestPacer)
    assert (shared.api, shared.period_seconds) == ("Clicksign", 10.0)
    assert shared.per_period == pytest.approx(50 * 0.98)  # the account's production budget
    assert not isinstance(local, SharedRequestPacer)


def test_deal_settings_carry_the_title_owner_document_key_field_and_mapping(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mapping = tmp_path / "signdeal.toml"
    mapping.write_text('[deal]\ntitle = "{document.name}"\n', encoding="utf-8")
    clean_env.setenv("DEAL_TITLE_TEMPLATE", "Contrato {document.name}")
    clean_env.setenv("RDSTATION_DEAL_OWNER_ID", "user-7")
    clean_env.setenv("RDSTATION_DOCUMENT_KEY_FIELD_ID", "cf-key")
    clean_env.setenv("SIGNDEAL_CONFIG", str(mapping))
    settings = load_settings(CrmWriterSettings)

    deal = deal_settings(settings, "stage-1")

    assert deal.stage_id == "stage-1"
    assert deal.title.template == "Contrato {document.name}"
    assert deal.owner_id == "user-7"
    assert deal.document_key_field_id == "cf-key"
    assert deal.mapping is settings.mapping_file()


class PipelinesOnly:
    """An RD client that only lists pipelines."""

    def __init__(self, pipelines: list[dict[str, Any]]) -> None:
        self.pipelines = pipelines
        self.asked = 0

    async def list_pipelines(self) -> list[dict[str, Any]]:
        self.asked += 1
        return self.pipelines


async def test_the_sandbox_entry_stage_is_the_first_stage_of_the_first_pipeline_with_stages(
    clean_env: pytest.MonkeyPatch,
) -> None:
    rd = PipelinesOnly(
        [
            {"_id": "p-empty", "deal_stages": []},
            {"id": "p-sales", "deal_stages": [{"id": "s-first"}, {"id": "s-second"}]},
        ]
    )

    assert await entry_stage(load_settings(CrmWriterSettings), rd) == "s-first"  # type: ignore[arg-type]


async def test_a_sandbox_without_stages_has_no_entry_stage(clean_env: pytest.MonkeyPatch) -> None:
    rd = PipelinesOnly([{"_id": "p-empty", "deal_stages": []}])

    assert await entry_stage(load_settings(CrmWriterSettings), rd) is None  # type: ignore[arg-type]


async def test_the_configured_stage_is_the_entry_stage_without_asking_rd(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("RDSTATION_DEAL_STAGE_ID", "stage-9")
    rd = PipelinesOnly([])

    assert await entry_stage(load_settings(CrmWriterSettings), rd) == "stage-9"  # type: ignore[arg-type]
    assert rd.asked == 0


def test_a_consumer_retries_through_the_tiers_of_its_own_topology() -> None:
    topology = Topology(prefix="test.", retry_delays_seconds=(1, 2, 4))

    consumer = deal_consumer(
        connection=None,  # type: ignore[arg-type]
        topology=topology,
        store=None,  # type: ignore[arg-type]
        pipeline=DealPipeline.__new__(DealPipeline),
        max_attempts=3,
        max_age_seconds=60,
    )

    assert consumer.policy.delays == (1, 2, 4)
    assert (consumer.policy.max_attempts, consumer.policy.max_age_seconds) == (3, 60)
