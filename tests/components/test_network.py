"""Cilium, the cluster's network: the release the program installs before anything else in the
cluster, with the values Talos documents, rendered and validated from the vendored chart."""

from __future__ import annotations

import pytest
import yaml

from components.network.values import CHART_VERSION, cilium_values
from offline.paths import UPSTREAM_DIR
from offline.validators import helm_render
from tests.conftest import STACKS, by_type, recorded, stack_values, structured
from tests.offline.test_helm_render import K8S, document

RELEASE = "kubernetes:helm.sh/v3:Release"


def cilium_release(stack: str):
    return next(r for r in by_type(recorded(stack), RELEASE) if r.name == "cilium")


@pytest.mark.parametrize("stack", STACKS)
def test_cilium_replaces_kube_proxy_through_kubeprism_with_talos_settings(stack: str) -> None:
    release = cilium_release(stack)
    assert release.inputs["chart"] == "cilium"
    assert release.inputs["version"] == CHART_VERSION
    assert release.inputs["namespace"] == "kube-system"
    # Fix forward: no rollback (a second rollout of the datapath), no uninstall of the CNI.
    assert release.inputs["atomic"] is False
    nodes = structured(stack_values(stack)[0], "nodes")
    assert release.inputs["timeout"] == 1800  # not per node: adding one changes nothing here
    values = release.inputs["values"]
    assert values["upgradeCompatibility"] == "1.20"
    assert values["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "10%"
    assert values["kubeProxyReplacement"] is True
    assert (values["k8sServiceHost"], values["k8sServicePort"]) == ("localhost", 7445)
    assert values["ipam"] == {"mode": "kubernetes"}
    assert values["cgroup"] == {"autoMount": {"enabled": False}, "hostRoot": "/sys/fs/cgroup"}
    assert "SYS_MODULE" not in values["securityContext"]["capabilities"]["ciliumAgent"]
    assert values["operator"]["replicas"] == min(2, len(nodes))


def test_the_pinned_chart_is_the_vendored_one() -> None:
    chart = yaml.safe_load((UPSTREAM_DIR / "charts" / "cilium" / "Chart.yaml").read_text())
    assert chart["version"] == CHART_VERSION


def test_one_node_gets_one_operator_and_no_node_is_refused() -> None:
    assert cilium_values(1, 7445)["operator"]["replicas"] == 1
    assert cilium_values(5, 7445)["operator"]["replicas"] == 2
    with pytest.raises(ValueError, match="at least one node"):
        cilium_values(0, 7445)


@pytest.mark.parametrize("stack", STACKS)
def test_the_release_renders_and_validates_with_no_ignored_value(stack: str) -> None:
    doc = document(stack)
    problems = [p for p in helm_render.release_problems(doc, K8S) if p.startswith("cilium:")]
    assert problems == []
    objects = helm_render.rendered_releases(doc, K8S)["cilium"]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("DaemonSet", "cilium"), ("Deployment", "cilium-operator")} <= kinds
    config = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "cilium-config"
    )
    assert config["data"]["kube-proxy-replacement"] == "true"
    assert config["data"]["ipam"] == "kubernetes"


def test_a_value_the_chart_does_not_know_is_reported() -> None:
    import copy

    doc = copy.deepcopy(document("dev"))
    release = next(r for r in doc["resources"] if r["type"] == RELEASE and r["name"] == "cilium")
    release["inputs"]["values"]["kubeProxyReplacment"] = True
    problems = helm_render.release_problems(doc, K8S)
    assert any("cilium: Helm value `kubeProxyReplacment`" in p for p in problems), problems


def test_the_health_gate_runs_again_when_cilium_changes() -> None:
    from components.network.values import cilium_values as values_of

    run = recorded("prod")
    health = next(r for r in by_type(run, "command:local:Command") if r.name == "talos-health")
    revision = health.inputs["environment"]["CILIUM"]
    assert revision.startswith(f"{CHART_VERSION} ")
    assert values_of(6, 7445) != values_of(1, 7445)  # the digest follows the values
