"""How the plan grows with the node list: generated stacks stay valid, the dependency graph gets
wider but not deeper, and adding or removing a worker touches that worker's resources only.

Per-node resources are found by name (a resource whose name is the node's name, or contains it
between dashes), not listed here: today a node has its `talos-platform:proxmox:NodeVm` component,
the `VmLegacy` in it, its Talos `ConfigurationApply` and its upgrade step (`command:local:Command`
`upgrade-<node>`), and a resource added per node later is found the same way.

Resources in both plans are compared by their inputs, not their dependencies: the Kubernetes
provider and the Kubernetes upgrade step rightly wait for every node. Secret inputs are `[secret]`
on both sides, so the existing nodes' machine configurations are compared through the invokes
that render them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from config import validate
from offline.graph import plan_document
from offline.run import run_program
from offline.scale import CONTROL_PLANES, scaled_stack_values
from tests.conftest import document, stack_values, structured, with_key

Document = dict[str, Any]

NODE_TYPES = {
    "talos-platform:proxmox:NodeVm",
    "proxmoxve:index/vmLegacy:VmLegacy",
    "talos:machine/configurationApply:ConfigurationApply",
}
"""What every node has at least; other per-node resources are found by name."""


@cache
def scaled_plan(nodes: int) -> Document:
    values, secret_keys = scaled_stack_values(nodes)
    return plan_document(run_program(values, secret_keys, "prod"))


def node_urns(doc: Document, node: str) -> set[str]:
    """The URNs of the resources that belong to `node`: named after it."""
    pattern = re.compile(rf"(^|-){re.escape(node)}(-|$)")
    return {r["urn"] for r in doc["resources"] if pattern.search(r["name"])}


def by_urn(doc: Document) -> dict[str, Document]:
    return {r["urn"]: r for r in doc["resources"]}


NODE_SET_INPUTS = {
    "talos-health": {"WORKERS", "MEMBERS"},
    "talos-kubernetes-upgrade": {"NODES"},
}
"""The node lists of two cluster-wide steps: they run again (the health gate over the new node
set; the Kubernetes upgrade finds nothing to do) when a worker comes or goes."""


def _without_node_sets(entry: dict) -> dict:
    inputs = dict(entry["inputs"])
    skipped = NODE_SET_INPUTS.get(entry["name"], set())
    if skipped and isinstance(inputs.get("environment"), dict):
        inputs["environment"] = {k: v for k, v in inputs["environment"].items() if k not in skipped}
    return {**entry, "inputs": inputs}


def input_changes(before: Document, after: Document) -> list[str]:
    """Every resource in both plans whose inputs (or which of them are secret) differ, but for
    the node lists of the cluster-wide steps (NODE_SET_INPUTS)."""
    old = {u: _without_node_sets(e) for u, e in by_urn(before).items()}
    new = {u: _without_node_sets(e) for u, e in by_urn(after).items()}
    changes = []
    for urn in sorted(old.keys() & new.keys()):
        for field in ("inputs", "secret_inputs", "secret_digests"):
            if old[urn][field] != new[urn][field]:
                changes.append(
                    f"{urn} {field}:\n"
                    f"  before: {json.dumps(old[urn][field], sort_keys=True)}\n"
                    f"  after:  {json.dumps(new[urn][field], sort_keys=True)}"
                )
    return changes


MACHINE_CONFIGURATION = "talos:machine/getConfiguration:getConfiguration"
"""The invoke that renders one node's machine configuration. Its result reaches the node's
`ConfigurationApply` as a secret input (`[secret]` in both plans), so the invoke's arguments
(config patches included) are where a change to an existing node's configuration shows."""


def machine_configurations(doc: Document) -> Counter[str]:
    return Counter(
        json.dumps(i["args"], sort_keys=True)
        for i in doc["invokes"]
        if i["token"] == MACHINE_CONFIGURATION
    )


def types_of(doc: Document, urns: set[str]) -> set[str]:
    return {r["type"] for r in doc["resources"] if r["urn"] in urns}


# (a) generated stacks are valid


@pytest.mark.parametrize("count", [3, 15, 60])
def test_scaled_stack_is_valid(count: int) -> None:
    values, secret_keys = scaled_stack_values(count)
    result = validate(values, secret_keys)
    assert result.problems == []
    assert result.config is not None
    nodes = result.config.nodes
    assert len(nodes) == count
    hosts = [h.name for h in result.config.proxmox.hosts]
    control_planes = result.config.control_planes
    assert len(control_planes) == CONTROL_PLANES
    assert sorted(n.host for n in control_planes) == sorted(hosts)
    per_host = [sum(n.host == h for n in result.config.workers) for h in hosts]
    assert max(per_host) - min(per_host) <= 1
    assert result.config.network.cidr == IPv4Network("10.20.0.0/20")


def test_scaled_stack_needs_three_nodes() -> None:
    with pytest.raises(ValueError, match=">= 3"):
        scaled_stack_values(2)


# (b) the graph gets wider, not deeper


def test_critical_path_does_not_grow_with_nodes() -> None:
    def depth(nodes: int) -> int:
        return int(scaled_plan(nodes)["summary"]["critical_path"])

    # 3 nodes have no worker at all. Workers add one level, the first time only: their upgrade
    # steps all wait for the last control plane's, and the health gate for them all (prod needs
    # three workers once it has any: Argo CD's Redis HA spreads over three nodes).
    assert depth(3) + 1 == depth(6) == depth(60)


def test_resources_grow_linearly_with_nodes() -> None:
    def resources(nodes: int) -> int:
        return int(scaled_plan(nodes)["summary"]["resources"])

    per_node = resources(7) - resources(6)
    assert per_node == resources(8) - resources(7)
    worker = node_urns(scaled_plan(7), "prod-worker-4")
    assert per_node == len(worker)
    assert NODE_TYPES.issubset(types_of(scaled_plan(7), worker))
    assert resources(60) - resources(6) == 54 * per_node


# (c) one worker more or less changes that worker's resources only


def prod_with_extra_worker() -> tuple[dict[str, str], str]:
    values = stack_values("prod")[0]
    nodes: list[dict[str, Any]] = structured(values, "nodes")
    network = structured(values, "network")
    hosts = [h["name"] for h in structured(values, "proxmox")["hosts"]]
    workers = [n for n in nodes if n["role"] == "worker"]
    taken = {IPv4Address(n["ip"]) for n in nodes} | {
        IPv4Address(network["gateway"]),
        IPv4Address(network["vip"]),
    }
    ip = max(IPv4Address(n["ip"]) for n in workers) + 1
    while ip in taken:
        ip += 1
    assert ip in IPv4Network(network["cidr"])
    name = f"prod-worker-{len(workers) + 1}"
    extra = {
        **workers[-1],
        "name": name,
        "host": hosts[len(workers) % len(hosts)],
        "vm_id": max(n["vm_id"] for n in nodes) + 1,
        "ip": str(ip),
    }
    return with_key(values, "nodes", [*nodes, extra]), name


def prod_without(node: str, values: dict[str, str]) -> dict[str, str]:
    nodes = [n for n in structured(values, "nodes") if n["name"] != node]
    return with_key(values, "nodes", nodes)


def assert_valid(values: dict[str, str]) -> None:
    assert validate(values, stack_values("prod")[1]).problems == []


def test_adding_a_worker_adds_its_resources_and_changes_nothing_else() -> None:
    values, name = prod_with_extra_worker()
    assert_valid(values)
    before, after = document("prod"), document("prod", values)
    old, new = set(by_urn(before)), set(by_urn(after))
    assert node_urns(before, name) == set()
    assert old - new == set()
    assert new - old == node_urns(after, name)
    assert NODE_TYPES.issubset(types_of(after, new - old))
    assert input_changes(before, after) == []
    added_configs = machine_configurations(after) - machine_configurations(before)
    assert machine_configurations(before) - machine_configurations(after) == Counter()
    assert added_configs.total() == 1
    assert name in next(iter(added_configs))


@pytest.mark.parametrize("worker", ["prod-worker-1", "prod-worker-2", "prod-worker-3"])
def test_removing_a_worker_removes_its_resources_and_changes_nothing_else(worker: str) -> None:
    # From four workers to three: prod needs three (Argo CD's Redis HA spreads over them).
    four, _ = prod_with_extra_worker()
    values = prod_without(worker, four)
    assert_valid(values)
    before, after = document("prod", four), document("prod", values)
    old, new = set(by_urn(before)), set(by_urn(after))
    assert node_urns(before, worker)
    assert new - old == set()
    assert old - new == node_urns(before, worker)
    assert NODE_TYPES.issubset(types_of(before, old - new))
    assert input_changes(before, after) == []
    removed_configs = machine_configurations(before) - machine_configurations(after)
    assert machine_configurations(after) - machine_configurations(before) == Counter()
    assert removed_configs.total() == 1
    assert worker in next(iter(removed_configs))
