"""docker-compose.yml: valid against the Compose specification's JSON schema, wired the way the
services read their configuration, and shaped the way the issue asks (health-gated start,
the sandbox profile, named volumes, restart policies, grace periods above the shutdown timeouts).

The schema is the one check-jsonschema vendors and keeps up to date (`vendor.compose-spec`); the
same check from a shell: `check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml`.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.deploy.support import (
    ALL_VARIABLES,
    COMPOSE_FILE,
    CRM_WRITER,
    ENV_EXAMPLE,
    SERVICES,
    Service,
    load_yaml,
    read_env_file,
    serves_get,
)

SIGNDEAL_SERVICES = ("ingest", "crm_writer", "rd-sandbox")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")
DURATION = re.compile(r"^(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = load_yaml(COMPOSE_FILE)
    assert isinstance(document, dict)
    return document


def compose_schema() -> dict[str, Any]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    return schema


def seconds(duration: str) -> int:
    match = DURATION.match(duration)
    assert match and duration, f"unexpected duration {duration!r}"
    return int(match["m"] or 0) * 60 + int(match["s"] or 0)


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(compose), key=lambda error: list(error.path)
    )
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors
    )


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    """The schema is strict enough to catch a typo (so the test above means something)."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["ingest"]["restart_policy"] = "always"
    schema = compose_schema()
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_every_interpolated_variable_is_a_setting() -> None:
    """`${VAR}` in the compose file reads .env: only signdeal's own variables may be used."""
    used = {match["name"] for match in INTERPOLATION.finditer(COMPOSE_FILE.read_text())}
    assert used, "expected ${…} interpolation of .env values"
    assert used <= ALL_VARIABLES, f"not read by signdeal: {sorted(used - ALL_VARIABLES)}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_service_environment_names_exist_in_its_settings(
    compose: dict[str, Any], service: Service
) -> None:
    environment = compose["services"][service.name]["environment"]
    assert isinstance(environment, dict), "use the mapping form of environment"
    unknown = set(environment) - service.variables
    assert not unknown, f"{service.name} does not read {sorted(unknown)}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_services_read_dotenv_and_run_their_module(
    compose: dict[str, Any], service: Service
) -> None:
    definition = compose["services"][service.name]
    assert definition["command"] == service.command  # exec form: SIGTERM reaches Python
    env_files = definition["env_file"]
    assert {"path": ".env", "required": False} in env_files
    assert definition["restart"] in {"unless-stopped", "always", "on-failure"}


def test_the_webhook_secret_is_required_at_compose_time(compose: dict[str, Any]) -> None:
    secret = compose["services"]["ingest"]["environment"]["CLICKSIGN_WEBHOOK_SECRET"]
    assert INTERPOLATION.fullmatch(secret) and ":?" in secret, secret
    assert read_env_file(ENV_EXAMPLE).active["CLICKSIGN_WEBHOOK_SECRET"] == ""


def test_rabbitmq_is_the_management_image_with_a_diagnostics_healthcheck(
    compose: dict[str, Any],
) -> None:
    rabbitmq = compose["services"]["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:\d+\.\d+(\.\d+)?-management", rabbitmq["image"])
    assert rabbitmq["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]
    assert rabbitmq["hostname"], "a fixed node name keeps the data directory across runs"


def test_postgres_has_a_readiness_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?-alpine", postgres["image"])
    assert "pg_isready" in postgres["healthcheck"]["test"]


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, definition in compose["services"].items():
        image = definition["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


@pytest.mark.parametrize(
    ("service", "needs"),
    [("ingest", {"rabbitmq"}), ("crm_writer", {"rabbitmq", "postgres"})],
)
def test_services_start_once_their_dependencies_are_healthy(
    compose: dict[str, Any], service: str, needs: set[str]
) -> None:
    depends_on = compose["services"][service]["depends_on"]
    for dependency in needs:
        assert depends_on[dependency]["condition"] == "service_healthy", dependency
        assert "healthcheck" in compose["services"][dependency]


def test_the_sandbox_is_a_profile_wired_in_when_no_token_is_set(compose: dict[str, Any]) -> None:
    services = compose["services"]
    sandbox = services["rd-sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert sandbox["command"][:3] == ["python", "-m", "sandbox.rdstation"]
    port = int(sandbox["command"][sandbox["command"].index("--port") + 1])
    assert sandbox["command"][sandbox["command"].index("--host") + 1] == "0.0.0.0"
    assert sandbox["env_file"] == [], "the sandbox gets none of signdeal's secrets"
    # crm_writer's sandbox URL names that service and port (the default of ${…:-default})
    url = services["crm_writer"]["environment"]["RDSTATION_SANDBOX_URL"]
    default = INTERPOLATION.fullmatch(url)
    assert default and default["rest"].startswith(":-")
    sandbox_url = urlsplit(default["rest"][2:])
    assert (sandbox_url.hostname, sandbox_url.port) == ("rd-sandbox", port)
    assert sandbox_url.path == "/api/v1"
    example = read_env_file(ENV_EXAMPLE).active
    assert example["RDSTATION_SANDBOX_URL"] == default["rest"][2:]
    assert example["RDSTATION_CRM_TOKEN"] == "", "no token: the sandbox is used"
    # Started first when the profile is on, ignored when it is off.
    dependency = services["crm_writer"]["depends_on"]["rd-sandbox"]
    assert dependency == {"condition": "service_healthy", "required": False}


@pytest.mark.parametrize("name", ["AMQP_URL", "STORE_URL"])
def test_broker_and_store_urls_point_at_the_compose_services(
    compose: dict[str, Any], name: str
) -> None:
    services = compose["services"]
    for service in ("ingest", "crm_writer"):
        value = services[service]["environment"].get(name)
        if value is None:
            continue
        default = INTERPOLATION.fullmatch(value)
        assert default and default["rest"].startswith(":-"), value
        url = urlsplit(default["rest"][2:])
        host = {"AMQP_URL": "rabbitmq", "STORE_URL": "postgres"}[name]
        assert url.hostname == host
        infrastructure = services[host]["environment"]
        user_key, password_key = {
            "rabbitmq": ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
            "postgres": ("POSTGRES_USER", "POSTGRES_PASSWORD"),
        }[host]
        assert (url.username, url.password) == (
            infrastructure[user_key],
            infrastructure[password_key],
        )
        assert read_env_file(ENV_EXAMPLE).active[name] == default["rest"][2:]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_ports_and_healthchecks_match_the_services(
    compose: dict[str, Any], service: Service
) -> None:
    definition = compose["services"][service.name]
    port = int(definition["environment"][service.port_variable])
    assert port == service.default(service.port_variable)
    published = [str(mapping).rsplit(":", 1)[-1] for mapping in definition["ports"]]
    assert published == [str(port)]
    check = " ".join(definition["healthcheck"]["test"])
    url = urlsplit(re.search(r"http://[^'\" ]+", check)[0])  # type: ignore[index]
    assert url.port == port
    assert serves_get(service, url.path), f"{service.name} has no GET {url.path}"


def test_sandbox_healthcheck_uses_a_real_route(compose: dict[str, Any]) -> None:
    from sandbox.rdstation.app import create_app
    from sandbox.rdstation.config import SandboxConfig

    paths = {route.resource.canonical for route in create_app(SandboxConfig()).router.routes()}
    check = " ".join(compose["services"]["rd-sandbox"]["healthcheck"]["test"])
    assert urlsplit(re.search(r"http://[^'\" ]+", check)[0]).path in paths  # type: ignore[index]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_stop_grace_period_outlasts_the_shutdown_timeout(
    compose: dict[str, Any], service: Service
) -> None:
    grace = seconds(compose["services"][service.name]["stop_grace_period"])
    timeout = float(service.default(service.shutdown_variable))
    # crm_writer: aiohttp's shutdown, then the consumer's drain, each bounded by the timeout.
    phases = 2 if service is CRM_WRITER else 1
    assert grace > phases * timeout, f"{service.name}: {grace}s for {phases} x {timeout}s"


def test_every_volume_is_named_and_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, definition in compose["services"].items():
        for volume in definition.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            assert not source.startswith((".", "/")), f"{name}: bind mount {volume}"
            used.add(source)
    assert used == declared


def test_every_long_running_service_restarts(compose: dict[str, Any]) -> None:
    for name, definition in compose["services"].items():
        assert definition.get("restart") == "unless-stopped", name


def test_infrastructure_is_not_published_beyond_localhost(compose: dict[str, Any]) -> None:
    for name in ("rabbitmq", "postgres", "crm_writer", "rd-sandbox"):
        for mapping in compose["services"][name].get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name}: {mapping}"
