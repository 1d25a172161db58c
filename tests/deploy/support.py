"""What the deploy tests share: the repository's deploy files, the settings' variable names, the
services' routes, a dotenv reader and a small kustomize-free renderer for the manifests.

Nothing here needs a network, a Docker engine or a cluster.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from pydantic_settings import BaseSettings

from services.crm_writer.settings import CrmWriterSettings
from services.ingest.settings import IngestSettings
from shared.settings import ServiceSettings
from shared.tracing import OTEL_VARIABLES

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
# The optional KEDA component, and the example overlay that includes it.
KEDA_COMPONENT = K8S / "components" / "keda"
KEDA_OVERLAY = K8S / "overlays" / "example-keda"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

# The Kubernetes version the manifests are validated against (schemas bundled with
# kubernetes-validate, so no network): the oldest minor still common on managed clusters.
KUBERNETES_VERSION = "1.32"

# Values that carry a credential: they belong in Secrets, never in a ConfigMap or the image.
SECRET_VARIABLES = frozenset(
    {
        "CLICKSIGN_WEBHOOK_SECRET",
        "CLICKSIGN_ACCESS_TOKEN",
        "RDSTATION_CRM_TOKEN",
        "CRM_WRITER_API_TOKEN",
        "AMQP_URL",
        "STORE_URL",
    }
)


@dataclass(frozen=True)
class Service:
    """One signdeal service as the deploy files see it."""

    name: str  # the compose service name
    module: str  # python -m <module>
    settings: type[ServiceSettings]
    port_variable: str
    shutdown_variable: str
    k8s_name: str  # Deployment, Service and PDB name

    @property
    def command(self) -> list[str]:
        return ["python", "-m", self.module]

    @property
    def variables(self) -> frozenset[str]:
        return variables_of(self.settings)

    def default(self, variable: str) -> Any:
        return self.settings.model_fields[variable.lower()].default


INGEST = Service(
    "ingest",
    "services.ingest",
    IngestSettings,
    "INGEST_PORT",
    "INGEST_SHUTDOWN_TIMEOUT_SECONDS",
    "signdeal-ingest",
)
CRM_WRITER = Service(
    "crm_writer",
    "services.crm_writer",
    CrmWriterSettings,
    "CRM_WRITER_PORT",
    "CRM_WRITER_SHUTDOWN_TIMEOUT_SECONDS",
    "signdeal-crm-writer",
)
SERVICES = (INGEST, CRM_WRITER)


def variables_of(settings: type[BaseSettings]) -> frozenset[str]:
    """Environment names a settings class reads: its field names, upper-cased."""
    return frozenset(name.upper() for name in settings.model_fields)


SETTINGS_VARIABLES = INGEST.variables | CRM_WRITER.variables
# Still read, ignored, and warned about at start-up (`config.deprecated`): no deploy file sets them.
# CRM_WRITER_REPLICAS divided the RD budget per process; the replicas now share it in the store.
DEPRECATED_VARIABLES = frozenset({"CRM_WRITER_REPLICAS"})
# What both services read: their settings, plus the OpenTelemetry SDK's variables for tracing.
ALL_VARIABLES = SETTINGS_VARIABLES | OTEL_VARIABLES
# Read by docker-compose.yml only (from .env): the passwords of the bundled RabbitMQ and
# PostgreSQL, which also go into the default AMQP_URL and STORE_URL.
COMPOSE_PASSWORDS = {"rabbitmq": "RABBITMQ_PASSWORD", "postgres": "POSTGRES_PASSWORD"}
COMPOSE_VARIABLES = frozenset(COMPOSE_PASSWORDS.values())


def load_settings_from(
    settings: type[ServiceSettings], variables: Mapping[str, str]
) -> ServiceSettings:
    """Build ``settings`` from exactly ``variables``, whatever the test process's environment."""
    saved = {name: os.environ.pop(name) for name in ALL_VARIABLES if name in os.environ}
    try:
        os.environ.update(variables)
        return settings()
    finally:
        for name in variables:
            os.environ.pop(name, None)
        os.environ.update(saved)


def documented_defaults(service: Service, commented: Mapping[str, str]) -> dict[str, bool]:
    """For each ``# NAME=value`` line naming a setting of ``service`` that has a default: whether
    the value is that default (as the settings read it: ``5`` is ``5.0``). Settings without a
    default (optional values) are left out: their commented value is an example."""
    required = {"CLICKSIGN_WEBHOOK_SECRET": "x"} if service is INGEST else {}
    actual = load_settings_from(service.settings, required)
    verdicts = {}
    for name, value in commented.items():
        if name not in service.variables or service.default(name) is None:
            continue
        documented = load_settings_from(service.settings, {**required, name: value})
        verdicts[name] = getattr(documented, name.lower()) == getattr(actual, name.lower())
    return verdicts


# --- routes -------------------------------------------------------------------------------------


@cache
def routes(service: Service) -> frozenset[tuple[str, str]]:
    """``(method, path)`` of every route the service's aiohttp app serves (built, never started)."""
    app = _build_app(service)
    return frozenset(
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    )


def _build_app(service: Service) -> web.Application:
    if service is INGEST:
        from services.ingest.app import create_app as create_ingest_app

        ingest = load_settings_from(IngestSettings, {"CLICKSIGN_WEBHOOK_SECRET": "dummy"})
        assert isinstance(ingest, IngestSettings)
        return create_ingest_app(ingest)
    from services.crm_writer.app import create_app as create_crm_writer_app

    crm_writer = load_settings_from(CrmWriterSettings, {})
    assert isinstance(crm_writer, CrmWriterSettings)
    return create_crm_writer_app(crm_writer)


def serves_get(service: Service, path: str) -> bool:
    return ("GET", path) in routes(service)


# --- dotenv files (.env.example, the kustomize env files) ---------------------------------------

_ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class EnvFile:
    active: dict[str, str]  # NAME=value lines
    commented: dict[str, str]  # "# NAME=value" lines: documented defaults or examples
    duplicates: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return set(self.active) | set(self.commented)


_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")


def expand(value: str, variables: Mapping[str, str]) -> str:
    """``value`` with each plain ``${NAME}`` replaced, as compose interpolates a .env file."""
    return _REFERENCE.sub(lambda match: variables[match["name"]], value)


def read_env_file(path: Path) -> EnvFile:
    """KEY=VALUE lines, plus ``# KEY=VALUE`` lines (a documented, commented-out setting)."""
    active: dict[str, str] = {}
    commented: dict[str, str] = {}
    duplicates = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if match is None:
            continue
        name, value = match["name"], match["value"]
        if name in active or name in commented:
            duplicates.append(name)
        (commented if match["commented"] else active)[name] = value
    return EnvFile(active, commented, duplicates)


# --- YAML ---------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_documents(path: Path) -> list[dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert documents, f"{path} holds no YAML document"
    return documents


# --- a kustomize-free rendering of base + overlay -----------------------------------------------


@dataclass
class Rendered:
    """The objects an overlay produces, close enough to `kustomize build` for these checks."""

    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
        return found[0]

    def data(self, kind: str, name: str) -> dict[str, str]:
        obj = self.get(kind, name)
        return dict(obj.get("data") or obj.get("stringData") or {})


def render(directory: Path, *, secrets_from_examples: bool = True) -> Rendered:
    """Resources, components, generators (``envs``/``literals``, ``behavior: merge``),
    ``patches``, ``replicas``, ``images`` and ``namespace`` of a kustomization, recursively, in
    kustomize's order. Generated Secrets use string data and read ``X.env.example`` when ``X.env``
    (git-ignored, holds the real values) is absent. Names get no content-hash suffix.
    """
    objects: list[dict[str, Any]] = []
    _build(directory, objects, secrets_from_examples)
    return Rendered(objects)


def _build(directory: Path, objects: list[dict[str, Any]], secrets_from_examples: bool) -> None:
    """Apply the kustomization (or Component) in ``directory`` to ``objects``."""
    kustomization = load_yaml(directory / "kustomization.yaml")
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            objects.extend(render(path, secrets_from_examples=secrets_from_examples).objects)
        else:
            objects.extend(load_documents(path))
    # A component works on what the including kustomization has gathered so far.
    for component in kustomization.get("components", []):
        component_directory = directory / component
        kind = load_yaml(component_directory / "kustomization.yaml")["kind"]
        assert kind == "Component", f"{directory}: {component} is a {kind}, not a Component"
        _build(component_directory, objects, secrets_from_examples)
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in kustomization.get(key, []):
            data = _generated_data(directory, generator, secrets_from_examples)
            existing = [
                obj
                for obj in objects
                if obj["kind"] == kind and obj["metadata"]["name"] == generator["name"]
            ]
            if generator.get("behavior") == "merge":
                assert existing, f"{directory}: merges into unknown {kind} {generator['name']}"
                existing[0]["data"].update(data)
                continue
            assert not existing, f"{directory}: {kind} {generator['name']} generated twice"
            generated: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": kind,
                "metadata": {"name": generator["name"]},
                "data" if kind == "ConfigMap" else "stringData": data,
            }
            if kind == "Secret":
                generated["type"] = "Opaque"
            objects.append(generated)
    for patch in kustomization.get("patches", []):
        _apply_patch(directory, objects, patch)
    for replica in kustomization.get("replicas", []):
        deployments = [
            obj
            for obj in objects
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == replica["name"]
        ]
        assert deployments, f"{directory}: replicas for unknown Deployment {replica['name']}"
        deployments[0]["spec"]["replicas"] = replica["count"]
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            repository = container["image"].split(":", 1)[0]
            if repository == image["name"]:
                tag = image.get("newTag", container["image"].partition(":")[2])
                container["image"] = f"{image.get('newName', repository)}:{tag}"
    if namespace := kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] != "Namespace":
                obj["metadata"]["namespace"] = namespace


# Strategic-merge patches are emulated by merging mappings and replacing lists, which is what
# kustomize does for kinds whose lists have no merge key: only those are accepted here.
_LIST_REPLACING_KINDS = frozenset({"NetworkPolicy"})


def _apply_patch(directory: Path, objects: list[dict[str, Any]], patch: Mapping[str, Any]) -> None:
    """A ``patches`` entry: a strategic-merge file (``path``) or inline JSON 6902 operations
    (``patch`` with a ``target``)."""
    if "path" in patch:
        for document in load_documents(directory / patch["path"]):
            assert document["kind"] in _LIST_REPLACING_KINDS, (
                f"{directory}: this renderer cannot merge a {document['kind']} patch"
            )
            target = _matching(objects, document["kind"], document["metadata"]["name"])
            assert target, f"{directory}: patch for unknown {document['kind']}"
            _merge_into(target[0], document)
        return
    operations = yaml.safe_load(patch["patch"])
    assert isinstance(operations, list), f"{directory}: only JSON 6902 inline patches"
    targets = _matching(objects, patch["target"]["kind"], patch["target"]["name"])
    assert targets, f"{directory}: patch target {patch['target']} matches nothing"
    for target in targets:
        for operation in operations:
            _json_patch(target, operation)


def _matching(objects: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]


def _merge_into(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def _json_patch(target: dict[str, Any], operation: Mapping[str, Any]) -> None:
    """One RFC 6902 ``add``, ``replace`` or ``remove`` on ``target``."""
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = target
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if operation["op"] == "remove":
        assert last in node, f"remove of missing {operation['path']}"
        del node[last]
    elif operation["op"] in ("add", "replace"):
        assert operation["op"] == "add" or last in node, f"replace of missing {operation['path']}"
        node[last] = operation["value"]
    else:
        raise AssertionError(f"unsupported JSON patch operation {operation['op']}")


def _generated_data(
    directory: Path, generator: Mapping[str, Any], secrets_from_examples: bool
) -> dict[str, str]:
    data: dict[str, str] = {}
    for env in generator.get("envs", []):
        path = directory / env
        if not path.exists() and secrets_from_examples:
            path = path.with_name(path.name + ".example")
        env_file = read_env_file(path)
        assert not env_file.duplicates, f"{path}: {env_file.duplicates} set twice"
        data.update(env_file.active)
    for literal in generator.get("literals", []):
        name, _, value = literal.partition("=")
        data[name] = value
    return data


def _containers(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if obj["kind"] == "Deployment":
            yield from obj["spec"]["template"]["spec"]["containers"]


def pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def only_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    container: dict[str, Any] = containers[0]
    return container


def environment_of(rendered: Rendered, container: Mapping[str, Any]) -> dict[str, str]:
    """The variables a container gets from its ``envFrom`` ConfigMaps and Secrets (and ``env``)."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            variables.update(rendered.data("ConfigMap", source["configMapRef"]["name"]))
        else:
            variables.update(rendered.data("Secret", source["secretRef"]["name"]))
    for item in container.get("env", []):
        variables[item["name"]] = item["value"]
    return variables
