"""The overlays built by kustomize itself (`kubectl kustomize`, or a `kustomize` binary), offline,
in a copy of deploy/k8s whose secret env files are their .example: kustomize accepts them, the
renderer the other deploy tests use (support.render) produces the same objects, and the name
references only kustomize rewrites (content-hash suffixes) reach the KEDA objects.

kubectl is part of the project's machine image; where neither binary exists the tests skip, except
in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import CRM_WRITER, K8S, KEDA_OVERLAY, OVERLAY, only_container, render

# kustomize appends "-" and a 10-character content hash to generated ConfigMaps and Secrets.
HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")
GENERATED_KINDS = frozenset({"ConfigMap", "Secret"})
# Kinds whose spec the renderer must reproduce exactly (names of generated objects unhashed).
COMPARED_KINDS = frozenset({"NetworkPolicy", "ScaledObject", "TriggerAuthentication", "Ingress"})


def kustomize_command() -> list[str] | None:
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    return None


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s with every ``*-secrets.env`` made from its ``.example``."""
    if kustomize_command() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs kubectl (or kustomize) on PATH for tests/deploy")
        pytest.skip("neither kubectl nor kustomize is installed")
    copy = tmp_path_factory.mktemp("deploy") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("*-secrets.env"))
    for example in copy.rglob("*-secrets.env.example"):
        shutil.copyfile(example, example.with_suffix(""))
    return copy


def build(directory: Path) -> list[dict[str, Any]]:
    command = kustomize_command()
    assert command is not None
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def unhashed(name: str) -> str:
    return HASH_SUFFIX.sub("", name)


def key(obj: dict[str, Any]) -> tuple[str, str]:
    name = obj["metadata"]["name"]
    return obj["kind"], unhashed(name) if obj["kind"] in GENERATED_KINDS else name


def without_hashes(value: Any, hashed: set[str]) -> Any:
    """``value`` with every generated object's hashed name replaced by its plain name."""
    if isinstance(value, dict):
        return {k: without_hashes(v, hashed) for k, v in value.items()}
    if isinstance(value, list):
        return [without_hashes(item, hashed) for item in value]
    return unhashed(value) if isinstance(value, str) and value in hashed else value


@pytest.mark.parametrize("overlay", [OVERLAY, KEDA_OVERLAY], ids=lambda path: path.name)
def test_kustomize_builds_what_the_tests_render(tree: Path, overlay: Path) -> None:
    built = build(tree / overlay.relative_to(K8S))
    rendered = render(overlay)
    assert sorted(map(key, built)) == sorted(map(key, rendered.objects))
    hashed = {obj["metadata"]["name"] for obj in built if obj["kind"] in GENERATED_KINDS}
    assert all(HASH_SUFFIX.search(name) for name in hashed), "generated names carry a hash"
    by_key = {key(obj): obj for obj in rendered.objects}
    for obj in built:
        mine = by_key[key(obj)]
        assert obj["metadata"].get("namespace") == mine["metadata"].get("namespace"), key(obj)
        if obj["kind"] in COMPARED_KINDS:
            assert without_hashes(obj["spec"], hashed) == mine["spec"], key(obj)
        if obj["kind"] == "Deployment":
            assert obj["spec"].get("replicas") == mine["spec"].get("replicas"), key(obj)
            assert without_hashes(only_container(obj), hashed) == only_container(mine), key(obj)


def test_the_trigger_authentication_names_the_generated_secret(tree: Path) -> None:
    """kustomize knows nothing of KEDA's kinds: components/keda/kustomizeconfig.yaml teaches it
    where they name a Secret, a Deployment and a TriggerAuthentication."""
    built = build(tree / KEDA_OVERLAY.relative_to(K8S))
    names = {(obj["kind"], unhashed(obj["metadata"]["name"])): obj for obj in built}
    secret = names["Secret", "signdeal-crm-writer-secrets"]["metadata"]["name"]
    authentication = names["TriggerAuthentication", "signdeal-crm-writer-rabbitmq"]
    assert {ref["name"] for ref in authentication["spec"]["secretTargetRef"]} == {secret}
    scaled = names["ScaledObject", CRM_WRITER.k8s_name]["spec"]
    assert (
        scaled["scaleTargetRef"]["name"]
        == names["Deployment", CRM_WRITER.k8s_name]["metadata"]["name"]
    )
    assert {trigger["authenticationRef"]["name"] for trigger in scaled["triggers"]} == {
        authentication["metadata"]["name"]
    }
