"""components/keda: a KEDA ScaledObject that scales crm_writer on the ready messages of its work
queue, through a TriggerAuthentication that reads crm_writer's own AMQP_URL. Checked on the
example-keda overlay: against the schemas in tests/deploy/schemas/keda (see the README there),
against the names the code and the other manifests use, and against what the shared RD budget
can feed."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry

from services.crm_writer.metrics import PrometheusCrmWriterObserver
from services.crm_writer.observer import QueueRole
from services.crm_writer.pacing import SAFETY_MARGIN
from services.crm_writer.settings import CrmWriterSettings
from shared.topology import Topology
from tests.deploy.support import (
    CRM_WRITER,
    KEDA_OVERLAY,
    KUBERNETES_VERSION,
    OVERLAY,
    REPO,
    SCHEMAS,
    Rendered,
    environment_of,
    load_settings_from,
    only_container,
    render,
)

SCHEMA_FILES = {
    "ScaledObject": SCHEMAS / "keda" / "scaledobject.json",
    "TriggerAuthentication": SCHEMAS / "keda" / "triggerauthentication.json",
}


@pytest.fixture(scope="module")
def keda() -> Rendered:
    return render(KEDA_OVERLAY)


def validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILES[kind].read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def scaled_object(keda: Rendered) -> dict[str, Any]:
    return keda.get("ScaledObject", CRM_WRITER.k8s_name)


def only_trigger(keda: Rendered) -> dict[str, Any]:
    triggers = scaled_object(keda)["spec"]["triggers"]
    assert len(triggers) == 1
    trigger: dict[str, Any] = triggers[0]
    return trigger


def crm_writer_environment(keda: Rendered) -> dict[str, str]:
    return environment_of(keda, only_container(keda.get("Deployment", CRM_WRITER.k8s_name)))


@pytest.mark.parametrize("kind", sorted(SCHEMA_FILES))
def test_the_keda_objects_validate_against_their_schemas(keda: Rendered, kind: str) -> None:
    objects = keda.of_kind(kind)
    assert len(objects) == 1, kind
    errors = sorted(validator(kind).iter_errors(objects[0]), key=lambda error: list(error.path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors
    )
    assert objects[0]["metadata"]["namespace"] == "signdeal"


def _misspell_spec_field(scaled: dict[str, Any]) -> None:
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")


def _misspell_trigger_key(scaled: dict[str, Any]) -> None:
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    metadata["queuename"] = metadata.pop("queueName")


def _misspell_mode(scaled: dict[str, Any]) -> None:
    scaled["spec"]["triggers"][0]["metadata"]["mode"] = "QueueLenght"


def _count_as_a_string(scaled: dict[str, Any]) -> None:
    scaled["spec"]["minReplicaCount"] = "2"


@pytest.mark.parametrize(
    "mistake",
    [_misspell_spec_field, _misspell_trigger_key, _misspell_mode, _count_as_a_string],
    ids=lambda mistake: mistake.__name__.strip("_"),
)
def test_the_schema_catches_a_mistake(
    keda: Rendered, mistake: Callable[[dict[str, Any]], None]
) -> None:
    broken = copy.deepcopy(scaled_object(keda))
    mistake(broken)
    assert not validator("ScaledObject").is_valid(broken)


def test_it_scales_the_crm_writer_deployment_on_its_work_queue(keda: Rendered) -> None:
    target = scaled_object(keda)["spec"]["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    keda.get("Deployment", target["name"])
    assert target["name"] == CRM_WRITER.k8s_name
    trigger = only_trigger(keda)
    assert trigger["type"] == "rabbitmq"
    prefix = crm_writer_environment(keda).get("AMQP_TOPOLOGY_PREFIX", "")
    assert trigger["metadata"]["queueName"] == Topology(prefix=prefix).work_queue
    # QueueLength over AMQP: a passive declare's ready-message count, no management plugin.
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["protocol"] == "amqp"


def test_keda_connects_with_crm_writers_own_amqp_url(keda: Rendered) -> None:
    authentication = keda.get(
        "TriggerAuthentication", only_trigger(keda)["authenticationRef"]["name"]
    )
    references = {ref["parameter"]: ref for ref in authentication["spec"]["secretTargetRef"]}
    assert set(references) == {"host"}
    container = only_container(keda.get("Deployment", CRM_WRITER.k8s_name))
    secrets = [
        source["secretRef"]["name"] for source in container["envFrom"] if "secretRef" in source
    ]
    assert references["host"]["name"] in secrets, "the Secret crm_writer itself reads"
    assert references["host"]["key"] == "AMQP_URL"
    assert "AMQP_URL" in keda.data("Secret", references["host"]["name"])


def test_the_autoscaler_owns_the_replica_count(keda: Rendered) -> None:
    assert "replicas" not in keda.get("Deployment", CRM_WRITER.k8s_name)["spec"], (
        "a Deployment replicas field would reset the count on every apply"
    )


def test_the_component_leaves_the_rd_budget_alone(keda: Rendered) -> None:
    """The replicas share one RD budget through the store: the component sets no variable, so the
    autoscaled crm_writer is configured exactly like the fixed-count one."""
    example = render(OVERLAY)
    assert crm_writer_environment(keda) == crm_writer_environment(example)


def test_the_most_replicas_are_what_the_rd_budget_can_feed(keda: Rendered) -> None:
    """Each replica keeps CRM_WRITER_PREFETCH RD calls in flight, all booked from one shared
    budget: N replicas keep it busy while RD answers within N x prefetch / (budget per second).
    The last replica must still widen that below RDSTATION_TIMEOUT_SECONDS, where calls fail
    anyway; one more would only wait on the shared limiter, holding PostgreSQL connections."""
    settings = load_settings_from(CrmWriterSettings, crm_writer_environment(keda))
    assert isinstance(settings, CrmWriterSettings)
    per_second = settings.rdstation_rate_limit_per_minute * SAFETY_MARGIN / 60

    def latency_covered(replicas: int) -> float:
        return replicas * settings.crm_writer_prefetch / per_second

    most = scaled_object(keda)["spec"]["maxReplicaCount"]
    assert latency_covered(most - 1) < settings.rdstation_timeout_seconds, "the last one waits"


def test_the_bounds_keep_a_replica_through_a_disruption(keda: Rendered) -> None:
    spec = scaled_object(keda)["spec"]
    budget = keda.get("PodDisruptionBudget", CRM_WRITER.k8s_name)["spec"]
    assert budget["maxUnavailable"] < spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert float(only_trigger(keda)["metadata"]["value"]) > 0


# --- the HorizontalPodAutoscaler alternative in docs/operations.md ------------------------------

OPERATIONS = REPO / "docs" / "operations.md"
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def documented(kind: str) -> list[dict[str, Any]]:
    blocks = [yaml.safe_load(block) for block in YAML_BLOCK.findall(OPERATIONS.read_text())]
    return [block for block in blocks if isinstance(block, dict) and block.get("kind") == kind]


def test_the_documented_hpa_is_valid_and_matches_the_keda_component(keda: Rendered) -> None:
    (hpa,) = documented("HorizontalPodAutoscaler")
    kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)
    scaled = scaled_object(keda)["spec"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == scaled["scaleTargetRef"]["name"]
    assert hpa["spec"]["minReplicas"] == scaled["minReplicaCount"]
    assert hpa["spec"]["maxReplicas"] == scaled["maxReplicaCount"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["external"]["target"] == {
        "type": "AverageValue",
        "averageValue": only_trigger(keda)["metadata"]["value"],
    }, "the same ready messages per replica as the KEDA trigger"
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert hpa["spec"]["behavior"] == behavior


def test_the_documented_adapter_rule_reads_the_work_queue_gauge() -> None:
    """The metric crm_writer exports, its work-queue role, and max over the replicas."""
    registry = CollectorRegistry()
    PrometheusCrmWriterObserver(registry).queue_depths({"crm_writer.deals": (QueueRole.WORK, 3)})
    samples = {
        sample.name: sample.labels for family in registry.collect() for sample in family.samples
    }
    (hpa,) = documented("HorizontalPodAutoscaler")
    blocks = [
        block for block in YAML_BLOCK.findall(OPERATIONS.read_text()) if "externalRules" in block
    ]
    (rule,) = yaml.safe_load(blocks[0])["externalRules"]
    series = re.fullmatch(r"(\w+)\{role=\"(\w+)\"\}", rule["seriesQuery"])
    assert series and series[1] in samples, rule["seriesQuery"]
    assert samples[series[1]]["role"] == series[2] == QueueRole.WORK.value
    assert rule["metricsQuery"].startswith("max("), "every replica reports the same queue"
    assert rule["name"]["as"] == hpa["spec"]["metrics"][0]["external"]["metric"]["name"]
