"""Talos v1.13 machine-configuration documents, built from typed Python.

In v1.13 the network settings are documents of their own (`HostnameConfig`, `LinkAliasConfig`,
`LinkConfig`, `ResolverConfig`, `TimeSyncConfig`, `Layer2VIPConfig`); the rest of the node's
settings is a patch of the `v1alpha1` document. `node_documents()` returns every document a node
gets, each as a dict; `node_patches()` the YAML patches handed to `get_configuration`.
The tests validate every one of them against the upstream JSON schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import yaml

from ..backup.names import ETCD_BACKUP_NAMESPACE, ETCD_BACKUP_ROLE

LINK_ALIAS = "net0"
"""The name the node's NIC gets, selected by its stable MAC: kernel names vary by VM hardware."""
KUBEPRISM_PORT = 7445
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"

Document = dict[str, Any]

ETCD_METRICS_PORT = 2381
METRICS_ARGS: dict[str, dict[str, str]] = {
    # Talos binds both to 127.0.0.1 (siderolabs/talos v1.13.9
    # internal/app/machined/pkg/controllers/k8s/control_plane_static_pod.go, `bind-address`):
    # on the node's address, Prometheus scrapes their HTTPS /metrics (authorised by the API
    # server's RBAC, as every request to them).
    "controllerManager": {"bind-address": "0.0.0.0"},
    "scheduler": {"bind-address": "0.0.0.0"},
    # etcd serves metrics only on its client port, behind client certificates
    # (internal/app/machined/pkg/system/services/etcd.go sets no `listen-metrics-urls`): a
    # plain-HTTP metrics listener, metrics only (`/metrics`, `/health`), for Prometheus.
    "etcd": {"listen-metrics-urls": f"http://0.0.0.0:{ETCD_METRICS_PORT}"},
}

TALOS_API_ACCESS: Document = {
    # The etcd snapshot CronJob (talos-backup, gitops/platform) reaches the Talos API with a
    # `talos.dev/v1alpha1 ServiceAccount`: the control planes mint its credentials for the one
    # role and namespace allowed here, nothing else (siderolabs/talos v1.13.9
    # `internal/app/machined/pkg/controllers/kubeaccess/`; a control-plane-only feature, the
    # Talos API Service `talos.default` routes to control planes).
    "enabled": True,
    "allowedRoles": [ETCD_BACKUP_ROLE],
    "allowedKubernetesNamespaces": [ETCD_BACKUP_NAMESPACE],
}


@dataclass(frozen=True)
class NodeNetwork:
    """What one node needs to know to configure its network."""

    hostname: str
    mac_address: str
    address: IPv4Address
    cidr: IPv4Network
    gateway: IPv4Address
    nameservers: tuple[IPv4Address, ...]
    ntp_servers: tuple[str, ...]
    vip: IPv4Address | None
    """Set on control-plane nodes: the Layer 2 VIP they share."""


@dataclass(frozen=True)
class NodeMachine:
    """The node's settings inside the `v1alpha1` document."""

    install_disk: str
    installer_image: str
    zone: str
    region: str
    cert_sans: tuple[str, ...] = ()
    data_volume_gb: int | None = None
    """Size of the node's second disk, if it has one: it becomes the user volume `data`."""
    control_plane: bool = False
    """A control-plane node: its controller manager, scheduler and etcd serve metrics where
    Prometheus reaches them (`METRICS_ARGS`), and it lets the etcd backup job take snapshots
    through its Talos API (`TALOS_API_ACCESS`)."""
    schedule_workloads: bool = False
    """On a control plane of a cluster without workers: lift the control-plane taint.

    Talos taints control planes `node-role.kubernetes.io/control-plane:NoSchedule` unless
    `cluster.allowSchedulingOnControlPlanes` is true (siderolabs/talos
    `pkg/machinery/config/types/v1alpha1/v1alpha1_types.go`, `AllowSchedulingOnControlPlanes`);
    without it, a cluster of control planes alone has nowhere to run Argo CD or cloudflared."""


def _doc(kind: str, **fields: Any) -> Document:
    return {"apiVersion": "v1alpha1", "kind": kind, **fields}


def hostname_config(net: NodeNetwork) -> Document:
    # `auto: off` so the generated `auto: stable` does not fight the static name.
    return _doc("HostnameConfig", auto="off", hostname=net.hostname)


def link_alias_config(net: NodeNetwork) -> Document:
    return _doc(
        "LinkAliasConfig",
        name=LINK_ALIAS,
        selector={"match": f'mac(link.permanent_addr) == "{net.mac_address}"'},
    )


def link_config(net: NodeNetwork) -> Document:
    return _doc(
        "LinkConfig",
        name=LINK_ALIAS,
        up=True,
        addresses=[{"address": f"{net.address}/{net.cidr.prefixlen}"}],
        routes=[{"destination": "0.0.0.0/0", "gateway": str(net.gateway)}],
    )


def resolver_config(net: NodeNetwork) -> Document:
    return _doc("ResolverConfig", nameservers=[{"address": str(a)} for a in net.nameservers])


def time_sync_config(net: NodeNetwork) -> Document:
    return _doc("TimeSyncConfig", enabled=True, ntp={"servers": list(net.ntp_servers)})


def layer2_vip_config(vip: IPv4Address) -> Document:
    return _doc("Layer2VIPConfig", name=str(vip), link=LINK_ALIAS)


def data_volume_config(size_gb: int) -> Document:
    """The second disk as a user volume, mounted by Talos at /var/mnt/data."""
    return _doc(
        "UserVolumeConfig",
        name="data",
        provisioning={
            "diskSelector": {"match": "!system_disk"},
            "minSize": f"{max(1, size_gb - 1)}GiB",
            "grow": True,
        },
        filesystem={"type": "xfs"},
    )


def machine_patch(machine: NodeMachine) -> Document:
    """The v1alpha1 patch: install target, topology labels, KubePrism, kubelet serving
    certificates, and no built-in CNI or kube-proxy.

    - `cluster.network.cni.name: none` and `cluster.proxy.disabled: true`: Talos deploys neither
      Flannel nor kube-proxy (its bootstrap manifests, siderolabs/talos v1.13.9
      `internal/app/machined/pkg/controllers/k8s/manifest.go`); Cilium replaces both
      (components/network), reaching the API server through KubePrism.
    - `rotate-server-certificates`: the kubelet asks the cluster for a serving certificate
      (a CSR that kubelet-csr-approver in the platform tree approves) instead of signing its own,
      so metrics-server verifies the kubelets' TLS (docs/platform.md).
    """
    patch: Document = {
        "machine": {
            "install": {"disk": machine.install_disk, "image": machine.installer_image},
            "nodeLabels": {ZONE_LABEL: machine.zone, REGION_LABEL: machine.region},
            "features": {"kubePrism": {"enabled": True, "port": KUBEPRISM_PORT}},
            "kubelet": {"extraArgs": {"rotate-server-certificates": "true"}},
        }
    }
    cluster: Document = {"network": {"cni": {"name": "none"}}, "proxy": {"disabled": True}}
    if machine.cert_sans:
        patch["machine"]["certSANs"] = list(machine.cert_sans)
        cluster["apiServer"] = {"certSANs": list(machine.cert_sans)}
    if machine.schedule_workloads:
        cluster["allowSchedulingOnControlPlanes"] = True
    if machine.control_plane:
        for component, args in METRICS_ARGS.items():
            cluster[component] = {"extraArgs": dict(args)}
        patch["machine"]["features"]["kubernetesTalosAPIAccess"] = TALOS_API_ACCESS
    patch["cluster"] = cluster
    return patch


def network_documents(net: NodeNetwork) -> list[Document]:
    docs = [
        hostname_config(net),
        link_alias_config(net),
        link_config(net),
        resolver_config(net),
        time_sync_config(net),
    ]
    if net.vip is not None:
        docs.append(layer2_vip_config(net.vip))
    return docs


def node_documents(net: NodeNetwork, machine: NodeMachine) -> list[Document]:
    """Every document a node's configuration is patched with, the v1alpha1 patch first."""
    docs = [machine_patch(machine), *network_documents(net)]
    if machine.data_volume_gb:
        docs.append(data_volume_config(machine.data_volume_gb))
    return docs


def node_patches(net: NodeNetwork, machine: NodeMachine) -> list[str]:
    """The same documents as YAML, one patch each, in a stable order."""
    return [yaml.safe_dump(d, sort_keys=True) for d in node_documents(net, machine)]
