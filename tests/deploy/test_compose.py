"""docker-compose.yml: valid against the Compose specification's JSON schema, wired the way the
services read their configuration, and shaped the way the issue asks (health-gated start,
the sandbox profile, named volumes, restart policies, grace periods above the shutdown timeouts).

The schema is the one check-jsonschema vendors and keeps up to date (`vendor.compose-spec`); the
same check from a shell: `check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.deploy.support import (
    ALL_VARIABLES,
    COMPOSE_FILE,
    COMPOSE_PASSWORDS,
    COMPOSE_VARIABLES,
    CRM_WRITER,
    ENV_EXAMPLE,
    SERVICES,
    Service,
    load_yaml,
    read_env_file,
    serves_get,
)

SIGNDEAL_SERVICES = ("ingest", "crm_writer", "rd-sandbox")
INTERPOLATED_NAME = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
_INTERPOLATION_HEAD = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<operator>:?[-?+])?")
DURATION = re.compile(r"^(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
# user:password@ in a URL; the password is what must never be written in a file.
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s'\"]+):(?P<password>[^@\s'\"]+)@")
# Environment names that carry a credential.
CREDENTIAL_NAME = re.compile(r"PASS|SECRET|TOKEN")
# The credential variables of the infrastructure images.
INFRASTRUCTURE_CREDENTIALS = {
    "rabbitmq": ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
    "postgres": ("POSTGRES_USER", "POSTGRES_PASSWORD"),
}


@dataclass(frozen=True)
class Interpolation:
    """One ``${NAME<operator>argument}`` expression; the argument may hold nested ones."""

    name: str
    operator: str  # "", ":-", "-", ":?", "?", ":+" or "+"
    argument: str


def interpolation(value: str) -> Interpolation | None:
    """``value`` parsed, if the whole of it is one interpolation expression."""
    head = _INTERPOLATION_HEAD.match(value)
    if head is None:
        return None
    depth, index = 1, head.end()
    while index < len(value):
        if value.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if value[index] == "}":
            depth -= 1
            if depth == 0:
                break
        index += 1
    if depth != 0 or index != len(value) - 1:
        return None
    return Interpolation(head["name"], head["operator"] or "", value[head.end() : index])


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


def test_every_interpolated_variable_is_a_setting_or_a_password() -> None:
    """`${VAR}` in the compose file reads .env: only signdeal's own variables may be used, and the
    two passwords of the bundled infrastructure."""
    used = {match["name"] for match in INTERPOLATED_NAME.finditer(COMPOSE_FILE.read_text())}
    known = ALL_VARIABLES | COMPOSE_VARIABLES
    assert used >= COMPOSE_VARIABLES, "expected ${…} interpolation of .env values"
    assert used <= known, f"not read by signdeal: {sorted(used - known)}"


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
    secret = interpolation(compose["services"]["ingest"]["environment"]["CLICKSIGN_WEBHOOK_SECRET"])
    assert secret and secret.operator == ":?", secret
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
    default = interpolation(url)
    assert default and default.operator == ":-"
    sandbox_url = urlsplit(default.argument)
    assert (sandbox_url.hostname, sandbox_url.port) == ("rd-sandbox", port)
    assert sandbox_url.path == "/api/v1"
    example = read_env_file(ENV_EXAMPLE).active
    assert example["RDSTATION_SANDBOX_URL"] == default.argument
    assert example["RDSTATION_CRM_TOKEN"] == "", "no token: the sandbox is used"
    # Started first when the profile is on, ignored when it is off.
    dependency = services["crm_writer"]["depends_on"]["rd-sandbox"]
    assert dependency == {"condition": "service_healthy", "required": False}


@pytest.mark.parametrize("name", ["AMQP_URL", "STORE_URL"])
def test_broker_and_store_urls_point_at_the_compose_services(
    compose: dict[str, Any], name: str
) -> None:
    """The default URLs name the bundled service, its user, and the same password variable the
    service is created with; .env.example shows the same URL."""
    services = compose["services"]
    for service in ("ingest", "crm_writer"):
        value = services[service]["environment"].get(name)
        if value is None:
            continue
        default = interpolation(value)
        assert default and default.operator == ":-", value
        url = urlsplit(default.argument)
        host = {"AMQP_URL": "rabbitmq", "STORE_URL": "postgres"}[name]
        assert url.hostname == host
        user_key, password_key = INFRASTRUCTURE_CREDENTIALS[host]
        infrastructure = services[host]["environment"]
        assert url.username == infrastructure[user_key]
        password = interpolation(infrastructure[password_key])
        assert password and password.name == COMPOSE_PASSWORDS[host]
        assert url.password == f"${{{password.name}}}", "the password the service was created with"
        assert read_env_file(ENV_EXAMPLE).active[name] == default.argument


@pytest.mark.parametrize("service", sorted(COMPOSE_PASSWORDS))
def test_the_infrastructure_password_is_required_from_env(
    compose: dict[str, Any], service: str
) -> None:
    """Unset or empty, compose stops with a message naming the variable and .env.example."""
    variable = COMPOSE_PASSWORDS[service]
    _, password_key = INFRASTRUCTURE_CREDENTIALS[service]
    password = interpolation(compose["services"][service]["environment"][password_key])
    assert password and password.name == variable
    assert password.operator == ":?", "required and non-empty"
    assert variable in password.argument and ".env.example" in password.argument
    assert read_env_file(ENV_EXAMPLE).active[variable] == "", "SET ME, no default password"


def test_no_password_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    """Every credential variable is a required interpolation, every URL password a variable."""
    for name, definition in compose["services"].items():
        for key, value in (definition.get("environment") or {}).items():
            if CREDENTIAL_NAME.search(key):
                parsed = interpolation(str(value))
                assert parsed and parsed.operator == ":?", f"{name}: {key} is written in the file"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    passwords = [match["password"] for match in URL_CREDENTIALS.finditer(text)]
    assert passwords, "expected the default AMQP_URL and STORE_URL"
    for password in passwords:
        assert interpolation(password), f"a password written in a URL: {password!r}"


def test_env_example_writes_no_password() -> None:
    example = read_env_file(ENV_EXAMPLE)
    for name, value in {**example.active, **example.commented}.items():
        for match in URL_CREDENTIALS.finditer(value):
            assert interpolation(match["password"]), f"{name} writes a password"


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
