"""What the GitOps checks read from an environment's stack file (`Pulumi.<env>.yaml` in
`tree.STACKS_DIR`, with the project defaults of its `Pulumi.yaml`), read the way the offline plan
reads a stack: the Kubernetes version the charts render for, and the facts the platform add-ons
must agree with (platform.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from config.errors import NAMESPACE
from config.models import (
    BackupConfig,
    CloudflareConfig,
    NetworkConfig,
    NodeConfig,
    ProxmoxConfig,
    StorageConfig,
)

from ...paths import REPO_ROOT
from ...stackfile import StackFileError, project_defaults, read_stack_config
from . import tree
from .tree import GitOpsError, Problem, _relative

KUBERNETES_VERSION_KEY = f"{NAMESPACE}:kubernetes_version"


@dataclass(frozen=True)
class StackNode:
    name: str
    ip: IPv4Address
    host: str
    """The Proxmox host of its VM: the node's `topology.kubernetes.io/zone`."""
    controlplane: bool = False
    """`role: controlplane`: it runs the API server, controller manager, scheduler and etcd."""


@dataclass(frozen=True)
class StackBackup:
    """Where the stack's backups go (`backup` of the stack): the R2 bucket the program creates
    and the S3 endpoint it is reached at, from `cloudflare.account_id` and `backup.jurisdiction`
    (config/models.py, `BackupConfig.s3_endpoint`)."""

    bucket: str
    endpoint: str


@dataclass(frozen=True)
class StackPlatform:
    """What the platform add-ons of an environment must agree with, from its stack file."""

    file: str
    """Where it was read (`Pulumi.prod.yaml`)."""
    region: str
    """`proxmox.region`: the nodes' `topology.kubernetes.io/region` and the region of the CSI
    plugin's configuration, which the program writes."""
    datastores: dict[str, str]
    """Proxmox host -> its `vm_datastore`."""
    nodes: tuple[StackNode, ...]
    network: IPv4Network
    proxmox_csi: bool
    """`storage.proxmox_csi`: the program creates the CSI plugin's namespace and Secret."""
    vip: IPv4Address | None = None
    """`network.vip`: the control planes' shared address, no node's own."""
    gateway: IPv4Address | None = None
    nameservers: tuple[IPv4Address, ...] = ()
    backup: StackBackup | None = None
    """`backup` and `cloudflare.account_id`: what Velero's BackupStorageLocation names (velero.py);
    None when the stack has no `backup` section (the plan's own config check says so)."""
    cluster: str | None = None
    """`cluster_name`: the `cluster` label Prometheus puts on what leaves it
    (monitoring_stack.py); None when the stack sets none (the plan's config check says so)."""


def _stack_file(env: str) -> Path:
    """The stack file of a root (tree.py): `Pulumi.<env>.yaml`, of a cluster's overlay
    `Pulumi.<cluster>.yaml`."""
    return tree.STACKS_DIR / f"Pulumi.{tree.stack_of(env)}.yaml"


def _values(env: str) -> dict[str, str]:
    stack = tree.stack_of(env)
    return read_stack_config(stack, _stack_file(env), tree.STACKS_DIR / "Pulumi.yaml").values


def stack_kubernetes_version(env: str) -> str:
    """The stack's `kubernetes_version` (its file, else the project default in Pulumi.yaml)."""
    try:
        version = _values(env).get(KUBERNETES_VERSION_KEY)
    except StackFileError:
        version = None
    if not version:
        defaults = project_defaults(REPO_ROOT / "Pulumi.yaml")
        version = defaults.get(KUBERNETES_VERSION_KEY)
    if not isinstance(version, str) or not version:
        raise GitOpsError(
            f"no {KUBERNETES_VERSION_KEY} for {env}: neither its stack nor Pulumi.yaml"
        )
    return version


def _section(values: dict[str, str], name: str, kind: Any, default: Any = None) -> Any:
    text = values.get(f"{NAMESPACE}:{name}")
    if text is None:
        return default
    return TypeAdapter(kind).validate_python(json.loads(text))


def stack_platform(env: str) -> StackPlatform | Problem:
    """The platform facts of `Pulumi.<env>.yaml`, or the Problem that stops reading them (the
    plan's own config check then says more)."""
    path = _stack_file(env)
    try:
        values = _values(env)
    except StackFileError as exc:
        message = str(exc).replace(str(path), "").lstrip(": ")
        return Problem(
            _relative(path), f"stack {tree.stack_of(env)}", f"{NAMESPACE}:proxmox", message
        )
    return platform_from_values(values, _relative(path))


def platform_from_values(values: dict[str, str], file: str) -> StackPlatform | Problem:
    """The platform facts of a stack's config values as the offline plan reads them
    (`offline.stackfile.read_stack_config(...).values`); `file` names where they come from."""
    try:
        proxmox: ProxmoxConfig | None = _section(values, "proxmox", ProxmoxConfig)
        network: NetworkConfig | None = _section(values, "network", NetworkConfig)
        nodes: list[NodeConfig] = _section(values, "nodes", list[NodeConfig], [])
        storage: StorageConfig = _section(values, "storage", StorageConfig, StorageConfig())
        backup: BackupConfig | None = _section(values, "backup", BackupConfig)
        cloudflare: CloudflareConfig | None = _section(values, "cloudflare", CloudflareConfig)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        return Problem(file, "stack", NAMESPACE, f"not a valid stack: {first}")
    if proxmox is None or network is None:
        return Problem(file, "stack", f"{NAMESPACE}:proxmox", "proxmox or network not set")
    return StackPlatform(
        file=file,
        region=str(proxmox.region),
        datastores={str(host.name): host.vm_datastore for host in proxmox.hosts},
        nodes=tuple(
            StackNode(
                str(n.name), IPv4Address(str(n.ip)), str(n.host), str(n.role) == "controlplane"
            )
            for n in nodes
        ),
        network=IPv4Network(str(network.cidr), strict=False),
        proxmox_csi=storage.proxmox_csi,
        vip=IPv4Address(str(network.vip)),
        gateway=IPv4Address(str(network.gateway)),
        nameservers=tuple(IPv4Address(str(a)) for a in network.nameservers),
        backup=(
            StackBackup(str(backup.bucket), backup.s3_endpoint(str(cloudflare.account_id)))
            if backup is not None and cloudflare is not None
            else None
        ),
        cluster=values.get(f"{NAMESPACE}:cluster_name") or None,
    )
