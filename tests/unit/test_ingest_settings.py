"""Ingest's environment: required secret(s), comma-separated lists, one clear line when wrong."""

from __future__ import annotations

import io

import orjson
import pytest

from services.ingest.settings import IngestSettings
from shared.event_kinds import DEFAULT_TRIGGER_EVENTS
from shared.logging import REDACTED, get_logger
from shared.settings import ConfigurationError, load_settings

INGEST_VARIABLES = (
    "CLICKSIGN_WEBHOOK_SECRET",
    "CLICKSIGN_TRIGGER_EVENTS",
    "INGEST_HOST",
    "INGEST_PORT",
    "INGEST_MAX_BODY_BYTES",
    "INGEST_PUBLISH_TIMEOUT_SECONDS",
    "INGEST_SHUTDOWN_TIMEOUT_SECONDS",
    "AMQP_URL",
    "AMQP_TOPOLOGY_PREFIX",
    "LOG_LEVEL",
    "LOG_FORMAT",
)


def test_missing_secret_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(IngestSettings)

    message = str(caught.value)
    assert "CLICKSIGN_WEBHOOK_SECRET" in message
    assert "\n" not in message


@pytest.mark.parametrize("value", ["", " ", ",", " , ,"])
def test_empty_secret_is_rejected(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", value)

    with pytest.raises(ConfigurationError, match="CLICKSIGN_WEBHOOK_SECRET"):
        load_settings(IngestSettings)


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "only-one")

    settings = load_settings(IngestSettings)

    assert settings.webhook_secrets == ("only-one",)
    assert settings.clicksign_trigger_events == frozenset(DEFAULT_TRIGGER_EVENTS)
    assert settings.ingest_host == "0.0.0.0"
    assert settings.ingest_port == 8080
    assert settings.ingest_max_body_bytes == 1024 * 1024
    assert settings.ingest_body_timeout_seconds == 5
    assert settings.ingest_max_concurrent_bodies == 32
    assert settings.ingest_keepalive_timeout_seconds == 5
    assert settings.ingest_publish_timeout_seconds == 10
    assert settings.ingest_shutdown_timeout_seconds == 20
    assert settings.amqp_url == "amqp://guest:guest@localhost:5672/"


def test_several_secrets_are_split_on_commas(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", " old-secret , new-secret,")

    assert load_settings(IngestSettings).webhook_secrets == ("old-secret", "new-secret")


def test_trigger_events_are_split_on_commas(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "s")
    clean_env.setenv("CLICKSIGN_TRIGGER_EVENTS", "sign, deadline ,,")

    assert load_settings(IngestSettings).clicksign_trigger_events == {"sign", "deadline"}


def test_empty_trigger_events_are_rejected(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "s")
    clean_env.setenv("CLICKSIGN_TRIGGER_EVENTS", " , ")

    with pytest.raises(ConfigurationError, match="CLICKSIGN_TRIGGER_EVENTS"):
        load_settings(IngestSettings)


def test_the_secret_is_not_shown_by_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "very-private-secret")

    assert "very-private-secret" not in repr(load_settings(IngestSettings))


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("INGEST_PORT", "eighty", "INGEST_PORT must be a whole number, not 'eighty'"),
        ("INGEST_PORT", "70000", "INGEST_PORT must be at most 65535, not '70000'"),
        ("INGEST_MAX_BODY_BYTES", "0", "INGEST_MAX_BODY_BYTES must be more than 0, not '0'"),
        (
            "INGEST_PUBLISH_TIMEOUT_SECONDS",
            "soon",
            "INGEST_PUBLISH_TIMEOUT_SECONDS must be a number, not 'soon'",
        ),
        (
            "LOG_LEVEL",
            "LOUD",
            "LOG_LEVEL must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL', "
            "not 'LOUD'",
        ),
    ],
)
def test_bad_values_are_said_in_words_naming_their_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "s")
    clean_env.setenv(variable, value)

    with pytest.raises(ConfigurationError) as caught:
        load_settings(IngestSettings)

    assert str(caught.value) == f"invalid configuration: {said}"


def test_a_value_that_may_hold_a_password_is_not_repeated(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "s")
    clean_env.setenv("AMQP_URL", "http://user:hunter2-pw@rabbit/")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(IngestSettings)

    assert "AMQP_URL must be an amqp:// or amqps:// URL" in str(caught.value)
    assert "hunter2-pw" not in str(caught.value)


def test_registered_secrets_are_masked_in_logs(
    clean_env: pytest.MonkeyPatch, ingest_log: io.StringIO
) -> None:
    clean_env.setenv("CLICKSIGN_WEBHOOK_SECRET", "rotating-old,rotating-new")
    clean_env.setenv("AMQP_URL", "amqp://signdeal:broker-pass@rabbit:5672/")
    settings = load_settings(IngestSettings)

    settings.register_secrets()
    get_logger().info("debug.dump", note="rotating-old rotating-new broker-pass")

    line = orjson.loads(ingest_log.getvalue())
    assert line["note"] == f"{REDACTED} {REDACTED} {REDACTED}"
