"""Every Talos document the program sends validates against the upstream v1.13 schema, alone and
merged into the generated base configuration of its machine type."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from offline.validators.talos_schema import (
    full_configuration,
    kind_of,
    schema_dir,
    validate_documents,
)
from tests.conftest import STACKS, recorded

CONFIG_INVOKE = "talos:machine/getConfiguration:getConfiguration"


@pytest.fixture(scope="module")
def talos_dir() -> Path:
    return schema_dir()


def sent_patches(stack: str) -> list[tuple[str, str, list[dict]]]:
    """(node hostname, machine type, patch documents) as the program sent them to Talos."""
    out = []
    for call in recorded(stack).invokes:
        if call.token != CONFIG_INVOKE:
            continue
        docs = [yaml.safe_load(p) for p in call.args["configPatches"]]
        hostname = next(d["hostname"] for d in docs if d.get("kind") == "HostnameConfig")
        out.append((hostname, call.args["machineType"], docs))
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_every_generated_document_validates(talos_dir: Path, stack: str) -> None:
    for node, _, docs in sent_patches(stack):
        network_docs = [d for d in docs if "kind" in d]
        assert validate_documents(talos_dir, node, network_docs) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_full_node_configuration_validates(talos_dir: Path, stack: str) -> None:
    for node, machine_type, docs in sent_patches(stack):
        full = full_configuration(talos_dir, machine_type, docs)
        assert validate_documents(talos_dir, node, full) == []


def test_control_planes_share_the_vip_and_workers_do_not() -> None:
    for node, machine_type, docs in sent_patches("prod"):
        kinds = [kind_of(d) for d in docs]
        if machine_type == "controlplane":
            vip = next(d for d in docs if d.get("kind") == "Layer2VIPConfig")
            assert vip["name"] == "203.0.113.10" and vip["link"] == "net0", node
        else:
            assert "Layer2VIPConfig" not in kinds, node
        assert {"HostnameConfig", "LinkAliasConfig", "LinkConfig", "ResolverConfig"} <= set(kinds)


def test_node_patch_carries_install_image_and_topology() -> None:
    for _, _, docs in sent_patches("prod"):
        machine = next(d for d in docs if "machine" in d)["machine"]
        assert machine["install"]["disk"] == "/dev/sda"
        assert machine["install"]["image"].startswith("factory.talos.dev/nocloud-installer/")
        labels = machine["nodeLabels"]
        assert labels["topology.kubernetes.io/region"] == "datacentre"
        assert labels["topology.kubernetes.io/zone"] in {"pve1", "pve2", "pve3"}
        assert machine["features"]["kubePrism"]["enabled"] is True


def test_an_invalid_document_is_reported_by_node_and_kind(talos_dir: Path) -> None:
    bad = {"apiVersion": "v1alpha1", "kind": "LinkConfig", "name": "net0", "mtuu": 1500}
    problems = validate_documents(talos_dir, "prod-cp-1", [bad])
    assert len(problems) == 1
    text = str(problems[0])
    assert text.startswith("node prod-cp-1: LinkConfig") and "mtuu" in text


@pytest.mark.parametrize("stack", STACKS)
def test_talos_runs_no_cni_and_no_kube_proxy_and_kubelets_ask_for_serving_certs(
    talos_dir: Path, stack: str
) -> None:
    """Cilium (components/network) is the CNI and the kube-proxy replacement; the merged
    configuration of every node says so, and the kubelets rotate serving certificates that
    kubelet-csr-approver (gitops/platform) approves."""
    for node, machine_type, docs in sent_patches(stack):
        full = full_configuration(talos_dir, machine_type, docs)
        v1alpha1 = next(d for d in full if "machine" in d)
        assert v1alpha1["cluster"]["network"]["cni"] == {"name": "none"}, node
        assert v1alpha1["cluster"]["proxy"]["disabled"] is True, node
        extra = v1alpha1["machine"]["kubelet"]["extraArgs"]
        assert extra["rotate-server-certificates"] == "true", node
        assert v1alpha1["machine"]["features"]["kubePrism"]["port"] == 7445, node


@pytest.mark.parametrize("stack", STACKS)
def test_control_planes_serve_metrics_where_prometheus_reaches_them(
    talos_dir: Path, stack: str
) -> None:
    """Controller manager and scheduler on the node's address, etcd's plain metrics listener on
    2381: what kube-prometheus-stack scrapes (docs/monitoring.md). Workers carry none of it."""
    for node, machine_type, docs in sent_patches(stack):
        full = full_configuration(talos_dir, machine_type, docs)
        cluster = next(d for d in full if "machine" in d)["cluster"]
        if machine_type == "controlplane":
            assert cluster["controllerManager"]["extraArgs"]["bind-address"] == "0.0.0.0", node
            assert cluster["scheduler"]["extraArgs"]["bind-address"] == "0.0.0.0", node
            assert cluster["etcd"]["extraArgs"]["listen-metrics-urls"] == "http://0.0.0.0:2381"
        else:
            patch = next(d for d in docs if "machine" in d)
            assert not {"controllerManager", "scheduler", "etcd"} & set(patch["cluster"]), node
