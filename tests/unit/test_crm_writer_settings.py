"""crm_writer's environment: sandbox by default, a stage with a token, templates checked early."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.crm_writer.settings import (
    DEFAULT_RD_BASE_URL,
    SANDBOX_TOKEN,
    CrmWriterSettings,
)
from shared.settings import ConfigurationError, load_settings


def test_without_a_token_it_runs_against_the_sandbox(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(CrmWriterSettings)
    assert settings.uses_sandbox
    assert settings.rd_token == SANDBOX_TOKEN
    assert settings.rd_base_url == settings.rdstation_sandbox_url


def test_with_a_token_it_calls_rd_station(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RDSTATION_CRM_TOKEN", "real-token-123")
    clean_env.setenv("RDSTATION_DEAL_STAGE_ID", "5f0f576f08c0c768b2dd4759")
    settings = load_settings(CrmWriterSettings)
    assert not settings.uses_sandbox
    assert settings.rd_base_url == DEFAULT_RD_BASE_URL
    assert settings.rd_token == "real-token-123"
    assert "real-token-123" not in repr(settings)


def test_blank_token_means_sandbox(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RDSTATION_CRM_TOKEN", "  ")
    assert load_settings(CrmWriterSettings).uses_sandbox


def test_a_token_without_a_stage_names_the_missing_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RDSTATION_CRM_TOKEN", "real-token-123")
    with pytest.raises(ConfigurationError, match="RDSTATION_DEAL_STAGE_ID"):
        load_settings(CrmWriterSettings)


def test_unknown_placeholder_lists_the_available_ones(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEAL_TITLE_TEMPLATE", "{document.filenme}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(CrmWriterSettings)
    message = str(caught.value)
    assert message.startswith("invalid configuration: DEAL_TITLE_TEMPLATE")
    assert "{document.filename}" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STORE_URL", "mysql://x"),
        ("AMQP_URL", "localhost:5672"),
        ("RDSTATION_RATE_LIMIT_PER_MINUTE", "0"),
        ("CRM_WRITER_PREFETCH", "zero"),
        ("LOG_FORMAT", "xml"),
        ("RDSTATION_CRM_BASE_URL", "http://crm.rdstation.com/api/v1"),
    ],
)
def test_bad_values_name_their_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(CrmWriterSettings)


def test_rd_over_plain_http_is_refused_unless_it_is_on_this_machine(
    clean_env: pytest.MonkeyPatch,
) -> None:
    # The v1 token travels in the query string: readable by anyone on the path of plain http.
    clean_env.setenv("RDSTATION_CRM_BASE_URL", "http://crm.rdstation.com/api/v1")
    with pytest.raises(ConfigurationError, match="https://"):
        load_settings(CrmWriterSettings)

    clean_env.setenv("RDSTATION_CRM_BASE_URL", "http://127.0.0.1:8090/api/v1")
    assert load_settings(CrmWriterSettings).rdstation_crm_base_url.startswith("http://127")


def test_a_broken_mapping_file_stops_start_up_with_file_and_key(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "signdeal.toml"
    path.write_text('[deal]\ntitle = "{documento}"', encoding="utf-8")
    clean_env.setenv("SIGNDEAL_CONFIG", str(path))
    with pytest.raises(ConfigurationError) as caught:
        load_settings(CrmWriterSettings)
    assert f"SIGNDEAL_CONFIG {path}: `title` in [deal]: unknown placeholder {{documento}}" in str(
        caught.value
    )


def test_a_valid_mapping_file_is_loaded(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "signdeal.toml"
    path.write_text("[deal]\nwon_on_finish = true", encoding="utf-8")
    clean_env.setenv("SIGNDEAL_CONFIG", str(path))
    mapping = load_settings(CrmWriterSettings).mapping_file()
    assert mapping is not None
    assert mapping.deal.won_on_finish is True


def test_history_defaults_loopback_only_and_ninety_days(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(CrmWriterSettings)
    assert settings.api_token is None
    assert settings.history_retention_days == 90


def test_history_token_and_retention_are_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CRM_WRITER_API_TOKEN", "0123456789abcdef-history")
    clean_env.setenv("HISTORY_RETENTION_DAYS", "30")
    settings = load_settings(CrmWriterSettings)
    assert settings.api_token == "0123456789abcdef-history"
    assert "0123456789abcdef-history" not in repr(settings)
    assert settings.history_retention_days == 30


def test_a_short_history_token_is_refused_with_the_fix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CRM_WRITER_API_TOKEN", "short-token")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(CrmWriterSettings)
    message = str(caught.value)
    assert message.startswith("invalid configuration: CRM_WRITER_API_TOKEN is shorter than 16")
    assert "secrets.token_urlsafe" in message
    assert "short-token" not in message
    assert "\n" not in message


@pytest.mark.parametrize("days", ["0", "-1", "many"])
def test_a_retention_below_one_day_is_refused(clean_env: pytest.MonkeyPatch, days: str) -> None:
    clean_env.setenv("HISTORY_RETENTION_DAYS", days)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(CrmWriterSettings)
    message = str(caught.value)
    assert message.startswith("invalid configuration: HISTORY_RETENTION_DAYS must be")
    assert "\n" not in message
