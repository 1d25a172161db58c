"""The NetworkPolicies: each service's port open only to named namespaces (the ingress controller's
for ingest's webhook, monitoring for both, never the ingress controller for crm_writer's history
API), and egress limited to the ports of the URLs the service is configured with, plus DNS."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.support import (
    BASE,
    CRM_WRITER,
    INGEST,
    OVERLAY,
    SERVICES,
    Rendered,
    Service,
    environment_of,
    only_container,
    render,
)

# The label Kubernetes sets on every namespace (value: its name); a NetworkPolicy can rely on it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "postgresql": 5432, "https": 443, "http": 80}
# OTLP over HTTP, the only trace exporter signdeal ships (docs/operations.md#tracing).
OTLP_HTTP_PORT = 4318


@pytest.fixture(scope="module", params=[BASE, OVERLAY], ids=["base", "overlay"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(request.param)


def policy(rendered: Rendered, service: Service) -> dict[str, Any]:
    return rendered.get("NetworkPolicy", service.k8s_name)


def allowed_namespaces(network_policy: dict[str, Any]) -> set[str]:
    """Namespaces whose pods may connect; fails on any peer that is not one named namespace."""
    names = set()
    for rule in network_policy["spec"]["ingress"]:
        assert rule.get("from"), "a rule without `from` admits every source"
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}, f"not a namespace peer: {peer}"
            labels = peer["namespaceSelector"]
            assert set(labels) == {"matchLabels"}, labels
            assert set(labels["matchLabels"]) == {NAMESPACE_NAME_LABEL}, labels
            names.add(labels["matchLabels"][NAMESPACE_NAME_LABEL])
    return names


def egress_ports(network_policy: dict[str, Any]) -> set[tuple[str, int]]:
    ports = set()
    for rule in network_policy["spec"]["egress"]:
        assert set(rule) == {"ports"}, f"egress by port only, to any address: {rule}"
        for port in rule["ports"]:
            assert isinstance(port["port"], int) and "endPort" not in port, port
            ports.add((port["protocol"], port["port"]))
    return ports


# The URLs a service connects to; RD's and Clicksign's have defaults, so a ConfigMap may omit them.
URL_VARIABLES = ("AMQP_URL", "STORE_URL", "RDSTATION_CRM_BASE_URL", "CLICKSIGN_API_BASE_URL")


def connection_ports(service: Service, variables: dict[str, str]) -> set[int]:
    """The TCP ports of every URL the service connects to, from its configuration."""
    urls = [
        variables.get(name, service.default(name))
        for name in URL_VARIABLES
        if name in service.variables
    ]
    ports = set()
    for url in urls:
        parts = urlsplit(url)
        ports.add(parts.port or DEFAULT_PORTS[parts.scheme])
    return ports


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_policy_selects_the_pods_and_isolates_both_directions(
    rendered: Rendered, service: Service
) -> None:
    network_policy = policy(rendered, service)
    pod_labels = rendered.get("Deployment", service.k8s_name)["spec"]["template"]["metadata"][
        "labels"
    ]
    selector = network_policy["spec"]["podSelector"]["matchLabels"]
    assert selector and selector.items() <= pod_labels.items()
    assert set(network_policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_only_the_service_port_is_open(rendered: Rendered, service: Service) -> None:
    container = only_container(rendered.get("Deployment", service.k8s_name))
    for rule in policy(rendered, service)["spec"]["ingress"]:
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert [port["name"] for port in container["ports"]] == ["http"]


def test_the_webhook_is_reachable_from_the_ingress_controller_and_monitoring(
    rendered: Rendered,
) -> None:
    assert allowed_namespaces(policy(rendered, INGEST)) == {"ingress-nginx", "monitoring"}


def test_the_history_api_is_not_reachable_from_the_ingress_controller(
    rendered: Rendered,
) -> None:
    ingest_sources = allowed_namespaces(policy(rendered, INGEST))
    crm_writer_sources = allowed_namespaces(policy(rendered, CRM_WRITER))
    assert "monitoring" in crm_writer_sources, "Prometheus scrapes /metrics"
    assert not (ingest_sources - {"monitoring"}) & crm_writer_sources
    # Not even signdeal's own namespace: ingest never calls crm_writer.
    assert render(OVERLAY).get("Namespace", "signdeal")["metadata"]["name"] not in (
        crm_writer_sources
    )


def test_the_overlay_names_only_the_namespaces_it_needs() -> None:
    """The example overlay drops the base's placeholder operators' namespace."""
    base = allowed_namespaces(policy(render(BASE), CRM_WRITER))
    overlay = allowed_namespaces(policy(render(OVERLAY), CRM_WRITER))
    assert overlay == {"monitoring"} and overlay < base


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_egress_allows_dns_and_the_configured_connections_only(
    service: Service,
) -> None:
    overlay = render(OVERLAY)
    variables = environment_of(overlay, only_container(overlay.get("Deployment", service.k8s_name)))
    needed = connection_ports(service, variables) | {OTLP_HTTP_PORT}
    if "amqp" in urlsplit(variables["AMQP_URL"]).scheme:
        needed |= {DEFAULT_PORTS["amqp"], DEFAULT_PORTS["amqps"]}  # plain and TLS
    allowed = egress_ports(policy(overlay, service))
    dns = {("UDP", 53), ("TCP", 53)}
    assert allowed == dns | {("TCP", port) for port in needed}
    assert DEFAULT_PORTS["http"] not in {port for _, port in allowed}, "cloud metadata, plain HTTP"
    if service is INGEST:
        assert not {5432, 443} & {port for _, port in allowed}, (
            "ingest calls no store, RD, Clicksign"
        )
