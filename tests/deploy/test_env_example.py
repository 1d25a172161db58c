""".env.example lists every variable signdeal reads (but the deprecated ones), the compose-only
passwords, and nothing else; as shipped (passwords filled in, interpolated as compose does) it
configures valid settings, and the defaults it documents in comments are the real defaults."""

from __future__ import annotations

import pytest

from tests.deploy.support import (
    ALL_VARIABLES,
    COMPOSE_VARIABLES,
    DEPRECATED_VARIABLES,
    ENV_EXAMPLE,
    SERVICES,
    Service,
    documented_defaults,
    expand,
    load_settings_from,
    read_env_file,
)


def test_lists_every_settings_field_and_nothing_else() -> None:
    example = read_env_file(ENV_EXAMPLE)
    assert not example.duplicates, f"listed twice: {example.duplicates}"
    missing = (ALL_VARIABLES | COMPOSE_VARIABLES) - DEPRECATED_VARIABLES - example.names
    unknown = example.names - ALL_VARIABLES - COMPOSE_VARIABLES
    deprecated = example.names & DEPRECATED_VARIABLES
    assert not missing, f"missing from .env.example: {sorted(missing)}"
    assert not unknown, f"not read by signdeal: {sorted(unknown)}"
    assert not deprecated, f"deprecated, a warning at every start: {sorted(deprecated)}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_as_shipped_it_configures_valid_settings(service: Service) -> None:
    """Only the webhook secret and the passwords must be filled in (compose refuses to start
    without them)."""
    active = read_env_file(ENV_EXAMPLE).active
    blanks = {name for name, value in active.items() if not value}
    assert blanks == {
        "CLICKSIGN_WEBHOOK_SECRET",
        "AMQP_TOPOLOGY_PREFIX",
        "RDSTATION_CRM_TOKEN",
        "RDSTATION_DEAL_STAGE_ID",
        *COMPOSE_VARIABLES,
    }, "an empty value is a value: leave optional settings commented out instead"
    filled = {name: "filled1in" for name in {"CLICKSIGN_WEBHOOK_SECRET", *COMPOSE_VARIABLES}}
    variables = {name: expand(value, filled) for name, value in {**active, **filled}.items()}
    mine = {name: value for name, value in variables.items() if name in service.variables}
    load_settings_from(service.settings, mine)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_commented_values_are_the_defaults(service: Service) -> None:
    verdicts = documented_defaults(service, read_env_file(ENV_EXAMPLE).commented)
    wrong = sorted(name for name, is_default in verdicts.items() if not is_default)
    assert not wrong, f"not the default: {wrong}"
    assert len(verdicts) >= 5
