"""The stack's nodes as the scheduler sees them, from the plan alone.

Each Talos machine configuration the plan requests (`talos:machine/getConfiguration`) is a node:
its name (HostnameConfig), role (machineType), labels and taints; the Proxmox VM of the same
name gives its capacity (cores x sockets, memory.dedicated MiB).

Labels: `kubernetes.io/hostname` (the node name), `kubernetes.io/os: linux`,
`kubernetes.io/arch: amd64`, the `machine.nodeLabels` of the patches (the program sets
`topology.kubernetes.io/zone` = the Proxmox host and `topology.kubernetes.io/region`,
components/talos/documents.py), and `node-role.kubernetes.io/control-plane` on control planes.
Taints: `machine.nodeTaints`, and `node-role.kubernetes.io/control-plane:NoSchedule` on a
control plane unless `cluster.allowSchedulingOnControlPlanes` (siderolabs/talos v1.13.9
internal/app/machined/pkg/controllers/k8s/kubelet_spec.go:327-341).

Allocatable = capacity - kubeReserved - systemReserved - the hard eviction threshold, as the
kubelet computes it, with what Talos v1.13.9 configures:

- systemReserved: cpu 50m; memory 512Mi on a control plane, 384Mi on a worker
  (pkg/machinery/constants/constants.go:411-418, applied in kubelet_spec.go:369-380 when the
  machine config sets none, which the program never does);
- kubeReserved: none (Talos sets none; its kubelet log fixture
  internal/app/machined/pkg/system/runner/internal/lastlog/testdata/kubelet.log:11 shows
  `"KubeReserved":null`);
- evictionHard: the kubelet default `memory.available<100Mi` (Talos does not override it; same
  log line, `HardEvictionThresholds`), subtracted from memory allocatable;
- pods: the kubelet default maxPods 110 (Talos does not set it).

Not subtracted: what the kernel keeps of the VM's memory before the kubelet measures MemTotal
(struct pages alone are ~1.6%), so the check is slightly optimistic about memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from .quantities import MI

CONFIG_INVOKE = "talos:machine/getConfiguration:getConfiguration"
VM_TYPE = "proxmoxve:index/vmLegacy:VmLegacy"

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

SYSTEM_RESERVED_CPU_MILLIS = 50  # constants.go:412 KubeletSystemReservedCPU
SYSTEM_RESERVED_MEMORY = {  # constants.go:415 / :418
    "controlplane": 512 * MI,
    "worker": 384 * MI,
}
KUBE_RESERVED_CPU_MILLIS = 0
KUBE_RESERVED_MEMORY = 0
EVICTION_HARD_MEMORY = 100 * MI  # kubelet default evictionHard memory.available
MAX_PODS = 110  # kubelet default maxPods


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        value = f"={self.value}" if self.value else ""
        return f"{self.key}{value}:{self.effect}"


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    labels: dict[str, str] = field(hash=False)
    taints: tuple[Taint, ...]
    cpu_capacity: int
    """Millicores."""
    memory_capacity: int
    """Bytes."""
    unschedulable: bool = False

    @property
    def cpu_allocatable(self) -> int:
        return self.cpu_capacity - SYSTEM_RESERVED_CPU_MILLIS - KUBE_RESERVED_CPU_MILLIS

    @property
    def memory_allocatable(self) -> int:
        reserved = SYSTEM_RESERVED_MEMORY.get(self.role, SYSTEM_RESERVED_MEMORY["controlplane"])
        return self.memory_capacity - reserved - KUBE_RESERVED_MEMORY - EVICTION_HARD_MEMORY

    @property
    def pods_allocatable(self) -> int:
        return MAX_PODS

    def cordoned(self) -> Node:
        """The node as `kubectl drain` leaves it: unschedulable, with the taint the node
        lifecycle controller adds for that."""
        taint = Taint(UNSCHEDULABLE_TAINT, "", "NoSchedule")
        return replace(self, unschedulable=True, taints=(*self.taints, taint))


def _patches(call: dict[str, Any]) -> list[dict[str, Any]]:
    patches = []
    for text in call["args"].get("configPatches") or []:
        for document in yaml.safe_load_all(text):
            if isinstance(document, dict):
                patches.append(document)
    return patches


def _taints(machine_taints: dict[str, Any]) -> list[Taint]:
    """Talos `machine.nodeTaints`: key -> `value:Effect` (or `:Effect`)."""
    taints = []
    for key, text in machine_taints.items():
        value, _, effect = str(text).rpartition(":")
        taints.append(Taint(str(key), value, effect))
    return taints


def _vm_capacity(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    capacity = {}
    for resource in doc["resources"]:
        if resource["type"] != VM_TYPE:
            continue
        inputs = resource.get("inputs") or {}
        cpu = inputs.get("cpu") or {}
        cores = int(cpu.get("cores", 1)) * int(cpu.get("sockets", 1))
        memory = int((inputs.get("memory") or {}).get("dedicated", 512))
        capacity[str(inputs.get("name", resource["name"]))] = (cores * 1000, memory * MI)
    return capacity


def plan_nodes(doc: dict[str, Any]) -> tuple[list[Node], list[str]]:
    """The nodes of a plan document, and notes on any this check could not size."""
    capacity = _vm_capacity(doc)
    nodes, notes = [], []
    for call in doc.get("invokes") or []:
        if call["token"] != CONFIG_INVOKE:
            continue
        role = str(call["args"].get("machineType", "worker"))
        patches = _patches(call)
        name = next(
            (str(p["hostname"]) for p in patches if p.get("kind") == "HostnameConfig"), None
        )
        if name is None:
            notes.append("a Talos machine configuration without a hostname is not scheduled on")
            continue
        if name not in capacity:
            notes.append(f"node {name}: no Proxmox VM of that name in the plan; not scheduled on")
            continue
        labels = {HOSTNAME_LABEL: name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        taints: list[Taint] = []
        allow = False
        for patch in patches:
            machine = patch.get("machine") or {}
            labels.update({str(k): str(v) for k, v in (machine.get("nodeLabels") or {}).items()})
            taints += _taints(machine.get("nodeTaints") or {})
            allow = allow or bool(
                (patch.get("cluster") or {}).get("allowSchedulingOnControlPlanes")
            )
        if role == "controlplane":
            labels[CONTROL_PLANE_LABEL] = ""
            if not allow:
                taints.append(Taint(CONTROL_PLANE_LABEL, "", "NoSchedule"))
        cpu, memory = capacity[name]
        nodes.append(Node(name, role, labels, tuple(taints), cpu, memory))
    return nodes, notes
