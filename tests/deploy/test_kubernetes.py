"""deploy/k8s: the kustomize base and the example overlay, checked without kustomize or a cluster.

- every manifest loads as YAML documents and every file a kustomization names exists;
- every object (base, generated ConfigMaps/Secrets, overlay) validates, strictly, against the
  Kubernetes JSON schemas bundled with `kubernetes-validate` at a pinned version;
- ConfigMap and Secret keys are settings of the service that reads them; credentials only in
  Secrets;
- probes, Prometheus annotations and the Ingress point at real routes; ports match the settings;
- grace periods outlast the shutdown timeouts; security context, resources, PDBs, replicas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.support import (
    BASE,
    CRM_WRITER,
    DEPRECATED_VARIABLES,
    DOCKERFILE,
    INGEST,
    K8S,
    KEDA_COMPONENT,
    KEDA_OVERLAY,
    KUBERNETES_VERSION,
    OVERLAY,
    SECRET_VARIABLES,
    SERVICES,
    Rendered,
    Service,
    documented_defaults,
    environment_of,
    load_documents,
    load_settings_from,
    load_yaml,
    only_container,
    pod_spec,
    read_env_file,
    render,
    routes,
    serves_get,
)

KUSTOMIZATIONS = (BASE, OVERLAY, KEDA_COMPONENT, KEDA_OVERLAY)
# Kinds the Kubernetes schemas do not know (custom resources, validated in test_keda.py).
CUSTOM_KINDS = frozenset({"ScaledObject", "TriggerAuthentication"})


@pytest.fixture(scope="module")
def base() -> Rendered:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay() -> Rendered:
    return render(OVERLAY)


@pytest.fixture(scope="module")
def keda_overlay() -> Rendered:
    return render(KEDA_OVERLAY)


def deployment(rendered: Rendered, service: Service) -> dict[str, Any]:
    return rendered.get("Deployment", service.k8s_name)


# --- files --------------------------------------------------------------------------------------


def kustomize_configurations() -> set[Path]:
    """Transformer configurations (``configurations:``): kustomize settings, not manifests."""
    return {
        (path.parent / name).resolve()
        for path in K8S.rglob("kustomization.yaml")
        for name in load_yaml(path).get("configurations", [])
    }


def test_every_manifest_loads_as_yaml_documents() -> None:
    files = sorted(set(K8S.rglob("*.yaml")) - kustomize_configurations())
    assert len(files) >= 10
    for path in files:
        for document in load_documents(path):
            assert {"apiVersion", "kind"} <= set(document), path
            if document["kind"] not in {"Kustomization", "Component"}:
                assert document["metadata"]["name"], path


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kustomization_lists_exist_and_cover_the_directory(directory: Path) -> None:
    kustomization = load_yaml(directory / "kustomization.yaml")
    assert kustomization["kind"] in {"Kustomization", "Component"}
    listed = set()
    for resource in kustomization.get("resources", []) + kustomization.get("components", []):
        path = (directory / resource).resolve()
        assert path.exists(), f"{directory}: {resource} does not exist"
        if path.is_dir():
            assert (path / "kustomization.yaml").exists(), resource
        listed.add(path)
    for patch in kustomization.get("patches", []):
        if "path" in patch:
            path = (directory / patch["path"]).resolve()
            assert path.exists(), f"{directory}: {patch['path']} does not exist"
            listed.add(path)
    for configuration in kustomization.get("configurations", []):
        path = (directory / configuration).resolve()
        assert path.exists(), f"{directory}: {configuration} does not exist"
        listed.add(path)
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in kustomization.get(key, []):
            for env in generator.get("envs", []):
                path = directory / env
                # Secret env files are git-ignored; their .example is what the repository holds.
                assert path.exists() or path.with_name(path.name + ".example").exists(), env
    manifests = {path.resolve() for path in directory.glob("*.yaml")}
    orphans = manifests - listed - {(directory / "kustomization.yaml").resolve()}
    assert not orphans, f"{directory}: not listed in kustomization.yaml: {sorted(orphans)}"


def test_secret_env_files_are_git_ignored() -> None:
    ignored = (K8S.parents[1] / ".gitignore").read_text().splitlines()
    assert "deploy/k8s/overlays/*/*-secrets.env" in ignored


# --- schemas ------------------------------------------------------------------------------------


def objects_to_validate(*rendered: tuple[str, Rendered]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (where, obj)
        for where, objects in rendered
        for obj in objects.objects
        if obj["kind"] not in CUSTOM_KINDS
    ]


def test_every_object_validates_against_the_kubernetes_schemas(
    base: Rendered, overlay: Rendered, keda_overlay: Rendered
) -> None:
    checked = set()
    named = (("base", base), ("overlay", overlay), ("overlay with KEDA", keda_overlay))
    for where, obj in objects_to_validate(*named):
        try:
            version = kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.path))
            pytest.fail(f"{where} {obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        assert version == KUBERNETES_VERSION
        checked.add(obj["kind"])
    assert checked >= {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "Namespace",
        "Ingress",
        "NetworkPolicy",
    }


def test_the_validator_catches_a_mistake(base: Rendered) -> None:
    broken = {**deployment(base, INGEST)}
    broken["spec"] = {**broken["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_configmap_and_secret_keys_are_the_services_settings(
    overlay: Rendered, service: Service
) -> None:
    container = only_container(deployment(overlay, service))
    for source in container["envFrom"]:
        if "configMapRef" in source:
            keys = set(overlay.data("ConfigMap", source["configMapRef"]["name"]))
            leaked = keys & SECRET_VARIABLES
            assert not leaked, f"credentials in a ConfigMap: {sorted(leaked)}"
        else:
            keys = set(overlay.data("Secret", source["secretRef"]["name"]))
            assert keys <= SECRET_VARIABLES, f"not a credential: {sorted(keys - SECRET_VARIABLES)}"
        unknown = keys - service.variables
        assert not unknown, f"{service.name} does not read {sorted(unknown)}"
    assert "env" not in container, "configuration lives in the ConfigMaps and Secrets"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_rendered_environment_is_a_valid_configuration(
    overlay: Rendered, service: Service
) -> None:
    variables = environment_of(overlay, only_container(deployment(overlay, service)))
    settings = load_settings_from(service.settings, variables)
    assert str(getattr(settings, service.port_variable.lower())) == variables[service.port_variable]
    if service is CRM_WRITER:
        assert variables["STORE_URL"].startswith("postgresql://"), "replicas need PostgreSQL"
        assert variables["RDSTATION_CRM_TOKEN"], "no sandbox in a cluster"


def test_every_configmap_key_is_read_by_someone(base: Rendered) -> None:
    readers: dict[str, set[str]] = {}
    for service in SERVICES:
        for source in only_container(deployment(base, service))["envFrom"]:
            if "configMapRef" in source:
                readers.setdefault(source["configMapRef"]["name"], set()).update(service.variables)
    for configmap in base.of_kind("ConfigMap"):
        name = configmap["metadata"]["name"]
        assert name in readers, f"ConfigMap {name} is not used"
        assert set(configmap["data"]) <= readers[name], name


@pytest.mark.parametrize("path", sorted(BASE.glob("*.env")), ids=lambda path: path.name)
def test_commented_settings_in_the_configmaps_are_the_defaults(path: Path) -> None:
    commented = read_env_file(path).commented
    verdicts = {
        name: is_default
        for service in SERVICES
        for name, is_default in documented_defaults(service, commented).items()
    }
    wrong = sorted(name for name, is_default in verdicts.items() if not is_default)
    assert not wrong, f"{path.name}: not the default: {wrong}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_env_sources_exist(overlay: Rendered, service: Service) -> None:
    for source in only_container(deployment(overlay, service))["envFrom"]:
        kind, ref = (
            ("ConfigMap", "configMapRef")
            if "configMapRef" in source
            else (
                "Secret",
                "secretRef",
            )
        )
        overlay.get(kind, source[ref]["name"])
        assert not source[ref].get("optional", False)


# --- workloads ----------------------------------------------------------------------------------


def configuration(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    """The container's variables from its ConfigMaps only (the base has no Secrets)."""
    sources = [source for source in container["envFrom"] if "configMapRef" in source]
    return environment_of(rendered, {**container, "envFrom": sources})


@pytest.mark.parametrize("rendered_name", ["base", "overlay"])
def test_two_replicas_and_a_rollout_that_never_runs_fewer(
    rendered_name: str, request: pytest.FixtureRequest
) -> None:
    """A surge pod first (it books from the same shared RD budget as the others), then an old one
    goes: a new pod that never gets ready stops the rollout with every old replica working."""
    rendered: Rendered = request.getfixturevalue(rendered_name)
    for service in SERVICES:
        workload = deployment(rendered, service)
        assert workload["spec"]["replicas"] >= 2, service.name
        rolling = workload["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0, f"{service.name}: a rollout would run fewer"
        assert rolling["maxSurge"] >= 1, f"{service.name}: no surge and none unavailable: stuck"


@pytest.mark.parametrize("rendered_name", ["base", "overlay", "keda_overlay"])
def test_no_manifest_sets_a_deprecated_variable(
    rendered_name: str, request: pytest.FixtureRequest
) -> None:
    """CRM_WRITER_REPLICAS divided the RD budget; the replicas share it now, and setting it only
    logs a warning at every start."""
    rendered: Rendered = request.getfixturevalue(rendered_name)
    for configmap in rendered.of_kind("ConfigMap"):
        deprecated = set(configmap["data"]) & DEPRECATED_VARIABLES
        assert not deprecated, f"ConfigMap {configmap['metadata']['name']}: {sorted(deprecated)}"
    for env_file in [*K8S.rglob("*.env"), *K8S.rglob("*.env.example")]:
        mentioned = read_env_file(env_file).names & DEPRECATED_VARIABLES
        assert not mentioned, f"{env_file.relative_to(K8S)}: {sorted(mentioned)}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_command_port_and_probes_match_the_service(base: Rendered, service: Service) -> None:
    container = only_container(deployment(base, service))
    assert container["command"] == service.command
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    config = configuration(base, container)
    assert ports == {"http": int(config[service.port_variable])}
    assert ports["http"] == service.default(service.port_variable)
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for kind, probe in probes.items():
        assert serves_get(service, probe["path"]), f"{kind}: no GET {probe['path']}"
        assert probe["port"] in ports or probe["port"] in ports.values(), kind


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_prometheus_scrape_annotations(base: Rendered, service: Service) -> None:
    workload = deployment(base, service)
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    container = only_container(workload)
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"]
    path = annotations["prometheus.io/path"]
    assert serves_get(service, path), f"{service.name}: no GET {path}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_grace_period_outlasts_the_shutdown(base: Rendered, service: Service) -> None:
    workload = deployment(base, service)
    container = only_container(workload)
    config = environment_of(
        base,
        {
            **container,
            "envFrom": [source for source in container["envFrom"] if "configMapRef" in source],
        },
    )
    timeout = float(
        config.get(service.shutdown_variable, service.default(service.shutdown_variable))
    )
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    sleep = float(pre_stop[1]) if pre_stop and pre_stop[0] == "sleep" else 0.0
    # crm_writer: aiohttp's shutdown, then the consumer's drain, each bounded by the timeout.
    phases = 2 if service is CRM_WRITER else 1
    grace = pod_spec(workload)["terminationGracePeriodSeconds"]
    assert grace >= sleep + phases * timeout + 5, f"{service.name}: {grace}s"
    if service is INGEST:
        assert sleep > 0, "ingest waits for the endpoint removal before stopping"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_security_context(base: Rendered, service: Service) -> None:
    """The "restricted" Pod Security Standard, plus a read-only root filesystem."""
    spec = pod_spec(deployment(base, service))
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["runAsUser"] == image_uid() and pod["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False, "service links inject *_PORT variables"
    container = only_container(deployment(base, service))
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("privileged", False) is False
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert "/tmp" in mounts
    for name in mounts.values():
        assert "emptyDir" in volumes[name], f"{name}: only scratch space is writable"


def image_uid() -> int:
    users = [
        line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("USER ")
    ]
    return int(users[-1].split(":")[0])


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_resources_have_requests_and_limits(base: Rendered, service: Service) -> None:
    resources = only_container(deployment(base, service))["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), kind


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_services_and_budgets_select_the_pods(base: Rendered, service: Service) -> None:
    workload = deployment(base, service)
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
    kube_service = base.get("Service", service.k8s_name)
    assert kube_service["spec"]["selector"].items() <= labels.items()
    ports = {port["name"] for port in only_container(workload)["ports"]}
    for port in kube_service["spec"]["ports"]:
        assert port["targetPort"] in ports
    budget = base.get("PodDisruptionBudget", service.k8s_name)
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    allowed = budget["spec"].get("maxUnavailable", 0)
    minimum = budget["spec"].get("minAvailable", 0)
    replicas = workload["spec"]["replicas"]
    assert 1 <= allowed < replicas or 1 <= minimum < replicas, "drains must be able to proceed"


def test_the_ingress_publishes_only_the_webhook(overlay: Rendered) -> None:
    ingress = overlay.get("Ingress", "signdeal-ingest")
    assert ingress["spec"]["tls"], "Clicksign needs HTTPS"
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    webhook = {route for method, route in routes(INGEST) if method == "POST"}
    for path in paths:
        assert path["pathType"] == "Exact" and path["path"] in webhook, path
        backend = path["backend"]["service"]
        target = overlay.get("Service", backend["name"])
        assert backend["port"]["name"] in {port["name"] for port in target["spec"]["ports"]}
        assert target["metadata"]["name"] == INGEST.k8s_name


def test_the_overlay_sets_namespace_image_and_restricted_pod_security(overlay: Rendered) -> None:
    namespace = overlay.get("Namespace", "signdeal")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in overlay.objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "signdeal"
    for service in SERVICES:
        image = only_container(deployment(overlay, service))["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", image


# The credentials each Secret must set; the service's other credentials are optional.
REQUIRED_SECRETS = {
    INGEST.name: {"CLICKSIGN_WEBHOOK_SECRET", "AMQP_URL"},
    CRM_WRITER.name: {"RDSTATION_CRM_TOKEN", "AMQP_URL", "STORE_URL"},
}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_secret_examples_list_the_credentials(service: Service) -> None:
    """Every credential the service reads is in its Secret's example: set when required, else a
    commented line saying what it is for."""
    example = read_env_file(
        OVERLAY / f"{service.k8s_name.removeprefix('signdeal-')}-secrets.env.example"
    )
    assert example.names == SECRET_VARIABLES & service.variables
    assert set(example.active) == REQUIRED_SECRETS[service.name]
