"""Synthetic stack configs of any size, for the benchmark and the scaling tests.

`scaled_stack_values(n)` is the base stack's configuration (prod by default) with its node list
replaced by `n` generated nodes: three control planes, one per Proxmox host round-robin, and
`n - 3` workers, round-robin over the hosts too. The documentation range of the shipped stacks
(203.0.113.0/24, RFC 5737) cannot hold 150 nodes, so a generated config lives in the private
network 10.20.0.0/20 instead (gateway 10.20.0.1, VIP 10.20.0.10). It is a benchmark config,
never meant to be deployed.

`stack_file_text()` writes such values back as a `Pulumi.<stack>.yaml`, for
`python -m offline.plan --stack-file`.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import yaml

from config import NAMESPACE, validate
from config.models import required_secrets

from .paths import REPO_ROOT
from .stackfile import project_defaults, read_stack_config

CONTROL_PLANES = 3
NETWORK = IPv4Network("10.20.0.0/20")
GATEWAY = IPv4Address("10.20.0.1")
VIP = IPv4Address("10.20.0.10")
NAMESERVERS = (IPv4Address("10.20.0.1"), IPv4Address("10.20.0.2"))
CONTROL_PLANE_FIRST_IP = IPv4Address("10.20.0.11")
"""Control plane N gets 10.20.0.(10 + N)."""
WORKER_FIRST_IP = IPv4Address("10.20.1.1")
"""Worker N gets the N-th address from 10.20.1.1 on (10.20.1.1 ... 10.20.15.254)."""
CONTROL_PLANE_VM_ID = 3100
WORKER_VM_ID = 3120
"""As in Pulumi.prod.yaml: control plane N is VM 3100 + N, worker N is VM 3120 + N."""

MAX_WORKERS = int(NETWORK.broadcast_address) - int(WORKER_FIRST_IP)
MAX_NODES = CONTROL_PLANES + MAX_WORKERS

_SIZING = {
    "controlplane": {"cores": 4, "memory_mb": 8192, "disk_gb": 64},
    "worker": {"cores": 8, "memory_mb": 16384, "disk_gb": 128},
}
"""Sizes used when the base stack has no node of a role to copy them from."""
_SIZE_FIELDS = ("cores", "memory_mb", "disk_gb", "data_disk_gb")


def _key(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def _sizing(base_nodes: list[dict[str, Any]], role: str) -> dict[str, Any]:
    """The size of the base stack's first node of `role` (cores, memory, disks)."""
    for node in base_nodes:
        if node.get("role") == role:
            return {f: node[f] for f in _SIZE_FIELDS if f in node}
    return dict(_SIZING[role])


def generated_nodes(
    count: int, cluster_name: str, hosts: list[str], base_nodes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`count` nodes: 3 control planes then workers, each role round-robin over `hosts`."""
    cp_size, worker_size = _sizing(base_nodes, "controlplane"), _sizing(base_nodes, "worker")
    nodes: list[dict[str, Any]] = []
    for i in range(CONTROL_PLANES):
        nodes.append(
            {
                "name": f"{cluster_name}-cp-{i + 1}",
                "role": "controlplane",
                "host": hosts[i % len(hosts)],
                "vm_id": CONTROL_PLANE_VM_ID + i + 1,
                "ip": str(CONTROL_PLANE_FIRST_IP + i),
                **cp_size,
            }
        )
    for i in range(count - CONTROL_PLANES):
        nodes.append(
            {
                "name": f"{cluster_name}-worker-{i + 1}",
                "role": "worker",
                "host": hosts[i % len(hosts)],
                "vm_id": WORKER_VM_ID + i + 1,
                "ip": str(WORKER_FIRST_IP + i),
                **worker_size,
            }
        )
    return nodes


def scaled_stack_values(nodes: int, base_stack: str = "prod") -> tuple[dict[str, str], set[str]]:
    """The base stack's config values (as Pulumi hands them to the program) and secret keys,
    with `nodes` generated nodes in the synthetic network 10.20.0.0/20.

    Raises `ValueError` for fewer than 3 nodes, more than the network holds, or (defensively)
    a generated config that does not pass `config.validate`."""
    if nodes < CONTROL_PLANES:
        raise ValueError(f"a scaled stack has {CONTROL_PLANES} control planes: nodes must be >= 3")
    if nodes > MAX_NODES:
        raise ValueError(f"{NETWORK} holds at most {MAX_NODES} nodes here, not {nodes}")
    base = read_stack_config(base_stack)
    values = dict(base.values)
    cluster_name = values[_key("cluster_name")]
    proxmox = json.loads(values[_key("proxmox")])
    hosts = [h["name"] for h in proxmox["hosts"]]
    base_nodes = json.loads(values[_key("nodes")])
    network = json.loads(values[_key("network")])
    network.update(
        cidr=str(NETWORK),
        gateway=str(GATEWAY),
        vip=str(VIP),
        nameservers=[str(a) for a in NAMESERVERS],
    )
    values[_key("network")] = json.dumps(network)
    values[_key("nodes")] = json.dumps(generated_nodes(nodes, cluster_name, hosts, base_nodes))
    secret_keys = set(base.secret_keys)
    result = validate(values, secret_keys)
    if result.config is None:
        problems = "\n".join(str(p) for p in result.problems)
        raise ValueError(f"generated config for {nodes} nodes is invalid:\n{problems}")
    return values, secret_keys


def _decoded(value: str) -> Any:
    """A config value as it would be written in YAML: structured values back from JSON."""
    if value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


HEADER = """\
# Synthetic benchmark config generated by offline/scale.py ({nodes} nodes): private addresses
# (10.20.0.0/20) and example names only. Not a deployable stack. Secrets are left out: the
# offline plan substitutes placeholders for them.
"""


def stack_file_text(values: dict[str, str], secret_keys: set[str], nodes: int) -> str:
    """`values` as a `Pulumi.<stack>.yaml`: structured values as YAML, project defaults and the
    required secrets (which the offline plan substitutes) left out; any other secret is written
    as a `secure:` entry, which the offline plan reads as a placeholder too."""
    defaults = {
        k: v if isinstance(v, str) else json.dumps(v)
        for k, v in project_defaults(REPO_ROOT / "Pulumi.yaml").items()
    }
    substituted = {_key(name) for name in required_secrets(None)}
    config: dict[str, Any] = {}
    for name, value in values.items():
        if name in secret_keys:
            if name not in substituted:
                config[name] = {"secure": "offline-benchmark-placeholder"}
            continue
        if defaults.get(name) == value:
            continue
        config[name] = _decoded(value)
    body = yaml.safe_dump({"config": config}, sort_keys=False, default_flow_style=False)
    return HEADER.format(nodes=nodes) + body
