"""Rules that span several config keys (addresses in the network, nodes on declared hosts, ...).

Each rule gets only the sections that parsed, so one bad key never hides the problems of another.
"""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Address, IPv4Network
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigProblem, key
from .ingress import ingress_rule_problems
from .models import (
    CloudflareConfig,
    GitOpsConfig,
    NetworkConfig,
    ProxmoxConfig,
    is_argocd_ui,
)
from .repository import GITOPS_DIR
from .sso import sso_rules

REQUIRED_EXTENSION = "siderolabs/qemu-guest-agent"

REDIS_HA_ENVIRONMENTS = ("prod",)
"""Environments whose Argo CD runs Redis HA (`components/argocd/values.py`, `Sizing.ha`): the
redis-ha chart places its three Redis and three HAProxy pods with required anti-affinity, one per
node (`hardAntiAffinity: true`, DandyDeveloper/charts `charts/redis-ha/values.yaml`)."""
REDIS_HA_NODES = 3


def _usable(net: IPv4Network, ip: IPv4Address) -> bool:
    return ip in net and ip not in (net.network_address, net.broadcast_address)


def network_rules(net: NetworkConfig) -> list[ConfigProblem]:
    problems = []
    cidr = net.cidr
    inside = f"an address inside network.cidr {cidr} (not its network or broadcast address)"
    if not _usable(cidr, net.gateway):
        problems.append(ConfigProblem(key("network.gateway"), str(net.gateway), inside))
    if not _usable(cidr, net.vip):
        problems.append(ConfigProblem(key("network.vip"), str(net.vip), inside))
    if net.vip == net.gateway:
        problems.append(
            ConfigProblem(key("network.vip"), str(net.vip), "an address other than the gateway")
        )
    return problems


def _ip(value: Any) -> IPv4Address | None:
    try:
        return IPv4Address(str(value))
    except ValueError:
        return None


CSI_VOLUME_VMID = 9999
"""The VM id the Proxmox CSI plugin names its volumes after (`vm-9999-pvc-...`: its default
controller VMID, sergelogvinov/proxmox-csi-plugin v0.19.1 `pkg/config/config.go`). A real VM with
that id, destroyed with its unreferenced disks (qemu-server `destroy-unreferenced-disks`), would
take every volume with it."""


def node_rules(
    nodes: list[Any],
    environment: str | None,
    net: NetworkConfig | None,
    proxmox: ProxmoxConfig | None,
) -> tuple[list[ConfigProblem], list[str]]:
    """Rules across nodes, on the nodes as written: a node with a problem of its own (a bad name,
    say) still counts for duplicates, addresses and the control-plane count."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    written = [n if isinstance(n, dict) else {} for n in nodes]
    for field in ("name", "vm_id", "ip"):
        counts = Counter(str(n.get(field)) for n in written if n.get(field) is not None)
        for i, node in enumerate(written):
            value = node.get(field)
            if value is not None and counts[str(value)] > 1:
                problems.append(
                    ConfigProblem(
                        key(f"nodes[{i}].{field}"),
                        value,
                        f"a value no other node has ({counts[str(value)]} nodes share it)",
                    )
                )
    for i, node in enumerate(written):
        if str(node.get("vm_id")) == str(CSI_VOLUME_VMID):
            problems.append(
                ConfigProblem(
                    key(f"nodes[{i}].vm_id"),
                    node.get("vm_id"),
                    f"another VM id: {CSI_VOLUME_VMID} owns every volume the Proxmox CSI plugin "
                    "creates (vm-9999-*), and destroying that VM would delete them",
                )
            )
    if net is not None:
        for i, node in enumerate(written):
            ip = _ip(node.get("ip"))
            where = key(f"nodes[{i}].ip")
            if ip is None:
                continue  # reported by the node's own validation
            if not _usable(net.cidr, ip):
                problems.append(
                    ConfigProblem(where, str(ip), f"an address inside network.cidr {net.cidr}")
                )
            elif ip == net.gateway:
                problems.append(
                    ConfigProblem(where, str(ip), "an address other than network.gateway")
                )
            elif ip == net.vip:
                problems.append(ConfigProblem(where, str(ip), "an address other than network.vip"))
    if proxmox is not None:
        declared = [h.name for h in proxmox.hosts]
        for i, node in enumerate(written):
            host = node.get("host")
            if isinstance(host, str) and host not in declared:
                problems.append(
                    ConfigProblem(
                        key(f"nodes[{i}].host"),
                        host,
                        f"one of the hosts declared in proxmox.hosts: {', '.join(declared)}",
                    )
                )
    count = [n.get("role") for n in written].count("controlplane")
    if proxmox is not None:
        # A host marked lost is no place to spread to: its control plane moves to a survivor.
        usable = [h.name for h in proxmox.hosts if not h.lost]
        found, warned = spread_rules(written, environment, usable)
        problems += found
        warnings += warned
    if count == 0 or count % 2 == 0:
        problems.append(
            ConfigProblem(
                key("nodes"),
                f"{count} control-plane node(s)",
                "an odd number (1, 3 or 5) of nodes with role controlplane, so etcd keeps quorum",
            )
        )
    elif count == 1 and environment in ("staging", "prod"):
        problems.append(
            ConfigProblem(
                key("nodes"),
                "1 control-plane node",
                f"3 or more control-plane nodes in {environment} (one host down must not stop it)",
            )
        )
    elif count == 1:
        warnings.append(
            f"{key('nodes')}: a single control-plane node; acceptable for dev, "
            "but the cluster stops when that node or its host does"
        )
    return problems, warnings


def spread_rules(
    nodes: list[dict[str, Any]], environment: str | None, hosts: list[str]
) -> tuple[list[ConfigProblem], list[str]]:
    """Control planes spread over hosts: losing one Proxmox host must not lose etcd quorum."""
    per_host = Counter(str(n.get("host")) for n in nodes if n.get("role") == "controlplane")
    empty = [h for h in hosts if per_host[h] == 0]
    crowded = sorted(h for h, c in per_host.items() if c > 1 and h in hosts)
    if not (empty and crowded):
        return [], []
    message = (
        f"control-plane nodes on different Proxmox hosts: {', '.join(crowded)} runs "
        f"{max(per_host[h] for h in crowded)} while {', '.join(empty)} runs none"
    )
    if environment in ("staging", "prod"):
        return [ConfigProblem(key("nodes"), dict(sorted(per_host.items())), message)], []
    return [], [f"{key('nodes')}: expected {message} (an error in staging and prod)"]


def schedulable_written(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes pods can land on, as written: the workers, or the control planes when there is
    no worker (their taint is then lifted, see `StackConfig.control_planes_schedulable`)."""
    workers = [n for n in nodes if n.get("role") == "worker"]
    return workers or [n for n in nodes if n.get("role") == "controlplane"]


def scheduling_rules(
    nodes: list[dict[str, Any]], environment: str | None, replicas: Any
) -> tuple[list[ConfigProblem], list[str]]:
    """Enough schedulable nodes for what the program itself runs in the cluster."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    schedulable = schedulable_written(nodes)
    names = ", ".join(str(n.get("name")) for n in schedulable) or "none"
    if environment in REDIS_HA_ENVIRONMENTS and len(schedulable) < REDIS_HA_NODES:
        problems.append(
            ConfigProblem(
                key("nodes"),
                f"{len(schedulable)} schedulable node(s) ({names})",
                f"{REDIS_HA_NODES} or more nodes that run workloads in {environment}: Argo CD's "
                "Redis HA places its 3 Redis and 3 HAProxy pods on 3 different nodes",
            )
        )
    if isinstance(replicas, int) and schedulable and replicas > len(schedulable):
        message = (
            f"at most {len(schedulable)} (one per node that runs workloads: {names}); more "
            "replicas share a node, and losing that node drops several tunnel connections"
        )
        if environment in ("staging", "prod"):
            problems.append(ConfigProblem(key("cloudflared_replicas"), replicas, message))
        else:
            warnings.append(f"{key('cloudflared_replicas')}: {replicas}; expected {message}")
    return problems, warnings


def extension_rules(extensions: list[str]) -> list[ConfigProblem]:
    if REQUIRED_EXTENSION in extensions:
        return []
    return [
        ConfigProblem(
            key("talos_extensions"),
            extensions,
            f"a list including {REQUIRED_EXTENSION}: the VMs run with the QEMU agent on, "
            "and Proxmox waits for it at start (bpg/terraform-provider-proxmox #326)",
        )
    ]


def _in_zone(hostname: str, zone: str) -> bool:
    name = hostname[2:] if hostname.startswith("*.") else hostname
    return name == zone or name.endswith("." + zone)


def _labels_below(hostname: str, zone: str) -> int:
    """How many labels `hostname` has in front of `zone` (`*.` counts as one)."""
    return hostname.count(".") - zone.count(".") if hostname != zone else 0


def _one_label(hostname: str, zone: str) -> str:
    """The one-label name a deeper one suggests: `app.dev.example.com` -> `app-dev.example.com`."""
    if hostname.startswith("*."):
        return f"*.{zone}"
    return f"{hostname[: -len(zone) - 1].replace('.', '-')}.{zone}"


MONITORING_NAMESPACE = "monitoring"


def is_monitoring_ui(entry: Any) -> bool:
    """A hostname routed to a Service of the monitoring namespace (`<svc>.monitoring.svc...`)."""
    try:
        host = (urlsplit(entry.service).hostname or "").split(".")
    except ValueError:  # not a URL (an invalid IPv6 literal): the ingress rules report it
        return False
    return len(host) >= 3 and host[1] == MONITORING_NAMESPACE and host[2] == "svc"


def access_rules(cloudflare: CloudflareConfig, environment: str | None) -> list[ConfigProblem]:
    """Admin UIs only behind Access; the Argo CD UI is an admin UI in staging and prod."""
    problems = []
    access = cloudflare.access
    admins = [i for i, h in enumerate(cloudflare.hostnames) if h.admin]
    if admins and not (access.emails or access.email_domains or access.groups):
        problems.append(
            ConfigProblem(
                key("cloudflare.access"),
                access.model_dump(),
                "at least one of emails, email_domains or groups: the admin hostnames "
                f"({', '.join(cloudflare.hostnames[i].hostname for i in admins)}) admit only them",
            )
        )
    for i, entry in enumerate(cloudflare.hostnames):
        if is_argocd_ui(entry) and entry.hostname.startswith("*."):
            problems.append(
                ConfigProblem(
                    key(f"cloudflare.hostnames[{i}].hostname"),
                    entry.hostname,
                    "a single name for the Argo CD UI (Argo CD's external URL), not a wildcard",
                )
            )
    for i, entry in enumerate(cloudflare.hostnames):
        if is_monitoring_ui(entry) and not entry.admin:
            problems.append(
                ConfigProblem(
                    key(f"cloudflare.hostnames[{i}].admin"),
                    entry.admin,
                    f"true: {entry.hostname} routes to the monitoring namespace (Grafana, "
                    "Prometheus or Alertmanager), which is published only behind Cloudflare Access",
                )
            )
    if environment in ("staging", "prod"):
        for i, entry in enumerate(cloudflare.hostnames):
            if is_argocd_ui(entry) and not entry.admin:
                problems.append(
                    ConfigProblem(
                        key(f"cloudflare.hostnames[{i}].admin"),
                        entry.admin,
                        f"true: the Argo CD UI ({entry.hostname}) is public without Cloudflare "
                        f"Access, which {environment} does not allow",
                    )
                )
    return problems


def hostname_rules(cloudflare: CloudflareConfig) -> list[ConfigProblem]:
    problems = ingress_rule_problems(cloudflare.hostnames)
    counts = Counter(h.hostname for h in cloudflare.hostnames)
    for i, entry in enumerate(cloudflare.hostnames):
        where = key(f"cloudflare.hostnames[{i}].hostname")
        if not _in_zone(entry.hostname, cloudflare.zone):
            problems.append(
                ConfigProblem(where, entry.hostname, f"a name in the zone {cloudflare.zone}")
            )
        elif (
            not cloudflare.advanced_certificate
            and _labels_below(entry.hostname, cloudflare.zone) > 1
        ):
            problems.append(
                ConfigProblem(
                    where,
                    entry.hostname,
                    f"a name at most one label below {cloudflare.zone} (like "
                    f"{_one_label(entry.hostname, cloudflare.zone)}): Universal SSL covers only "
                    f"{cloudflare.zone} and *.{cloudflare.zone}, so browsers would get no valid "
                    "certificate; or set cloudflare.advanced_certificate: true once the zone has "
                    "an Advanced Certificate Manager certificate for it",
                )
            )
        if entry.edge and (entry.admin or entry.hostname.startswith("*.")):
            what = "an admin UI, each cluster's own behind Access" if entry.admin else "a wildcard"
            problems.append(
                ConfigProblem(
                    key(f"cloudflare.hostnames[{i}].edge"),
                    entry.edge,
                    "false for an admin or wildcard hostname: the edge stack's load balancer "
                    f"publishes one public name ({entry.hostname} is "
                    f"{what})",
                )
            )
        if counts[entry.hostname] > 1:
            problems.append(
                ConfigProblem(where, entry.hostname, "a hostname declared once in the stack")
            )
    return problems


def gitops_rules(
    gitops: GitOpsConfig, environment: str | None, cluster_name: str | None = None
) -> list[ConfigProblem]:
    """A stack syncs its own environment's app-of-apps, never another's: the environment's root
    (`gitops/envs/<env>`), or its own cluster's overlay of it
    (`gitops/envs/<env>/clusters/<cluster_name>`, docs/multi-cluster.md), once that folder
    exists in the tree (a kustomization.yaml in it)."""
    expected = f"gitops/envs/{environment}"
    if environment is None or gitops.path == expected:
        return []
    if cluster_name is None:
        overlay = None
        exists = False
    else:
        overlay = f"{expected}/clusters/{cluster_name}"
        exists = (GITOPS_DIR.parent / overlay / "kustomization.yaml").is_file()
        if gitops.path == overlay and exists:
            return []
    what = f"{expected}, the app-of-apps of this stack's environment ({environment})"
    if overlay is not None:
        what += f", or {overlay}, this cluster's overlay of it"
        if not exists:
            what += f" (none yet: create {overlay}/kustomization.yaml, docs/multi-cluster.md)"
    return [ConfigProblem(key("gitops.path"), gitops.path, what)]


def lost_host_warnings(nodes: list[Any], proxmox: Any) -> list[str]:
    """Nodes still placed on a host marked lost: the next step is to move them."""
    lost = {h.name for h in getattr(proxmox, "hosts", []) if getattr(h, "lost", False)}
    stranded = [
        str(n.get("name"))
        for n in nodes
        if isinstance(n, dict) and isinstance(n.get("host"), str) and n["host"] in lost
    ]
    if not stranded:
        return []
    return [
        f"{key('nodes')}: {', '.join(stranded)} on a host marked lost "
        f"({', '.join(sorted(lost))}); move them to another host, one control plane per change "
        '(README, "When a Proxmox host dies")'
    ]


def cross_rules(parsed: dict[str, Any]) -> tuple[list[ConfigProblem], list[str]]:
    """All rules whose inputs parsed; returns problems and warnings."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    net = parsed.get("network")
    if net is not None:
        problems += network_rules(net)
    if "nodes_written" in parsed:
        found, warned = node_rules(
            parsed["nodes_written"], parsed.get("environment"), net, parsed.get("proxmox")
        )
        problems += found
        warnings += warned
        found, warned = scheduling_rules(
            [n if isinstance(n, dict) else {} for n in parsed["nodes_written"]],
            parsed.get("environment"),
            parsed.get("cloudflared_replicas"),
        )
        problems += found
        warnings += warned
        warnings += lost_host_warnings(parsed["nodes_written"], parsed.get("proxmox"))
    if "talos_extensions" in parsed:
        problems += extension_rules(parsed["talos_extensions"])
    if "gitops" in parsed:
        problems += gitops_rules(
            parsed["gitops"], parsed.get("environment"), parsed.get("cluster_name")
        )
    if "argocd_sso" in parsed:
        problems += sso_rules(
            parsed["argocd_sso"], parsed.get("environment"), parsed.get("cloudflare")
        )
    if "cloudflare" in parsed:
        problems += hostname_rules(parsed["cloudflare"])
        problems += access_rules(parsed["cloudflare"], parsed.get("environment"))
    return problems, warnings
