"""The repository's stacks validated together: what no single stack's validation can see.

One stack is one cluster (docs/multi-cluster.md), and an environment may be served by several
(`Pulumi.prod.yaml`, `Pulumi.prod-b.yaml`, both `environment: prod`). Stacks that share a Proxmox
cluster, a network or an environment must not collide:

- cluster names distinct (`cluster_name_clashes`);
- Proxmox pools distinct and not nested (`pool_clashes`), and no two stacks on one bridge where
  one is untagged or both share the VLAN (`network_clashes`): the boundaries of each stack's
  tokens (`python -m tools.proxmox_access`), checked across every stack as that tool does;
- on one Proxmox cluster (`ProxmoxClusters`): VM ids unique (`vm_id_clashes`) and no datastore
  shared (`datastore_clashes`);
- on one layer-2 segment no address (node IP or VIP) used twice; on different segments no
  overlapping `network.cidr` (`address_clashes`);
- the stacks of one environment on one Talos minor and one Kubernetes minor (`version_clashes`);
- in one Cloudflare account no R2 bucket, and in one zone no public hostname, of two stacks
  (`cloudflare_clashes`).

The rules only; reading the repository's stack files, the command line
(`python -m offline.validators.fleet`) and the plan's check are `offline/validators/fleet.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigProblem, key
from .models import StackConfig

Stacks = Mapping[str, StackConfig]


def stack_file(name: str) -> str:
    return f"Pulumi.{name}.yaml"


# The Proxmox boundaries of one stack (moved here from tools/proxmox_access.py, which imports
# them: its access commands and this check refuse the same stacks).


def image_datastores(stack: StackConfig) -> list[str]:
    """The image datastores of the hosts that run a node (the only ones that get an image)."""
    used = {n.host for n in stack.nodes}
    return sorted({h.image_datastore for h in stack.proxmox.hosts if h.name in used})


def vm_datastores(stack: StackConfig) -> list[str]:
    return sorted({h.vm_datastore for h in stack.proxmox.hosts})


def pools_overlap(a: str, b: str) -> bool:
    """Pool ACLs propagate to nested pools (`/pool/a` covers `/pool/a/b`): equal or nested pools
    are one reach."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def pool_clashes(stack: StackConfig, others: Stacks) -> list[str]:
    """Another stack whose pool is this one's, or nested in it or around it: its token would
    reach this stack's VMs."""
    pool = stack.proxmox_pool
    return [
        str(
            ConfigProblem(
                key("proxmox.pool"),
                pool,
                f"a pool of this stack's own: stack {name}'s pool is {other.proxmox_pool}, and "
                "the ACL of either would reach the other's VMs (set proxmox.pool in one of them)",
            )
        )
        for name, other in sorted(others.items())
        if pools_overlap(pool, other.proxmox_pool)
    ]


def network_clashes(stack: StackConfig, others: Stacks) -> list[str]:
    """Stacks on one bridge where one is untagged: Proxmox plugs an untagged NIC of a VLAN-aware
    bridge in as a trunk of every VLAN (pve-common `src/PVE/Network.pm`, tap_plug), and SDN.Use
    on the bare bridge is the "full bridge" permission (pve-guest-common `GuestHelpers.pm`,
    check_vnet_access). An untagged stack's token could boot a VM on the other's VLAN, and a
    tagged stack's on the untagged one's network."""
    net = stack.network
    return [
        str(
            ConfigProblem(
                key("network.vlan"),
                net.vlan,
                f"a VLAN of this stack's own: stack {name} is on bridge {net.bridge} too "
                f"({'untagged' if other.network.vlan is None else f'VLAN {other.network.vlan}'}), "
                "and an untagged stack's VMs reach every VLAN of that bridge",
            )
        )
        for name, other in sorted(others.items())
        if other.network.bridge == net.bridge
        and (untagged(net.vlan) or untagged(other.network.vlan) or net.vlan == other.network.vlan)
    ]


def untagged(vlan: int | None) -> bool:
    """No tag, or tag 1: the PVID of a VLAN-aware bridge's ports (pve-common Network.pm)."""
    return vlan is None or vlan == 1


# Which stacks share a Proxmox cluster, and a layer-2 segment.


def endpoint_host(stack: StackConfig) -> str:
    return (urlsplit(stack.proxmox.endpoint).hostname or "").lower()


@dataclass(frozen=True)
class ProxmoxClusters:
    """Stacks on one Proxmox cluster: the same endpoint host (any node's API is the whole
    cluster's) or the same `proxmox.region` (which models.ProxmoxConfig documents as the name of
    the Proxmox cluster), and transitively. A VM id, a datastore name and an SDN path are
    cluster-wide in Proxmox (`/etc/pve` is one database for the cluster)."""

    group: Mapping[str, int]

    @classmethod
    def of(cls, stacks: Stacks) -> ProxmoxClusters:
        parent = {name: name for name in stacks}

        def root(name: str) -> str:
            while parent[name] != name:
                name = parent[name]
            return name

        seen: dict[tuple[str, str], str] = {}
        for name in sorted(stacks):
            stack = stacks[name]
            for mark in (("host", endpoint_host(stack)), ("region", stack.proxmox.region)):
                if mark in seen:
                    parent[root(name)] = root(seen[mark])
                else:
                    seen[mark] = name
        roots = sorted({root(n) for n in stacks})
        return cls({n: roots.index(root(n)) for n in stacks})

    def same(self, a: str, b: str) -> bool:
        return self.group[a] == self.group[b]


def why_same_proxmox(a: StackConfig, b: StackConfig) -> str:
    if endpoint_host(a) == endpoint_host(b):
        return f"endpoint host {endpoint_host(a)}"
    if a.proxmox.region == b.proxmox.region:
        return f"region {a.proxmox.region}"
    return "linked through other stacks' endpoint hosts and regions"


def segment(stack: StackConfig) -> str:
    net = stack.network
    return f"bridge {net.bridge} " + ("untagged" if untagged(net.vlan) else f"VLAN {net.vlan}")


def same_segment(
    clusters: ProxmoxClusters, a: str, sa: StackConfig, b: str, sb: StackConfig
) -> bool:
    """One layer-2 segment: one Proxmox cluster, one bridge, one VLAN (untagged and VLAN 1 are
    one)."""
    return clusters.same(a, b) and segment(sa) == segment(sb)


# The rules. Each gives the problems of `stack`'s keys against one other stack.

Rule = Callable[[str, StackConfig, str, StackConfig, ProxmoxClusters], list[str]]
"""(this stack's name, its config, the other's name, its config, the Proxmox clusters)."""


def cluster_name_clashes(
    me: str, stack: StackConfig, name: str, other: StackConfig, clusters: ProxmoxClusters
) -> list[str]:
    if stack.cluster_name != other.cluster_name:
        return []
    expected = (
        f"a cluster name no other stack has: stack {name} is named {other.cluster_name} too "
        "(the name makes the nodes' MAC addresses, components/proxmox/vm.py stable_mac, the "
        "image files' names, the default pool and the backups' CLUSTER_NAME)"
    )
    return [str(ConfigProblem(key("cluster_name"), stack.cluster_name, expected))]


def vm_id_clashes(
    me: str, stack: StackConfig, name: str, other: StackConfig, clusters: ProxmoxClusters
) -> list[str]:
    if not clusters.same(me, name):
        return []
    theirs = {n.vm_id: n.name for n in other.nodes}
    return [
        str(
            ConfigProblem(
                key(f"nodes[{i}].vm_id"),
                node.vm_id,
                f"a VM id no other stack uses on this Proxmox cluster: stack {name} (same "
                f"Proxmox cluster: {why_same_proxmox(stack, other)}) has it for node "
                f"{theirs[node.vm_id]}",
            )
        )
        for i, node in enumerate(stack.nodes)
        if node.vm_id in theirs
    ]


def datastore_clashes(
    me: str, stack: StackConfig, name: str, other: StackConfig, clusters: ProxmoxClusters
) -> list[str]:
    """A datastore of this stack that the other uses too, on one Proxmox cluster: each stack's
    tokens hold Datastore.Allocate on theirs, which reaches every volume there (pve-storage
    `src/PVE/Storage.pm`, check_volume_access). Reported once per datastore, at its first host."""
    if not clusters.same(me, name):
        return []
    theirs = set(vm_datastores(other)) | set(image_datastores(other))
    mine = {"vm_datastore": vm_datastores(stack), "image_datastore": image_datastores(stack)}
    problems = []
    for field_name, datastores in mine.items():
        for ds in datastores:
            if ds not in theirs:
                continue
            i = next(i for i, h in enumerate(stack.proxmox.hosts) if getattr(h, field_name) == ds)
            problems.append(
                str(
                    ConfigProblem(
                        key(f"proxmox.hosts[{i}].{field_name}"),
                        ds,
                        f"a datastore of this stack's own: stack {name} uses {ds} too on the "
                        f"same Proxmox cluster ({why_same_proxmox(stack, other)}), and either "
                        "stack's token could read or delete the other's volumes there",
                    )
                )
            )
    return problems


def _addresses(stack: StackConfig) -> list[tuple[str, str, str]]:
    """(key, address, what) of every address the stack takes: the VIP and each node's IP."""
    net = stack.network
    return [("network.vip", str(net.vip), "its VIP")] + [
        (f"nodes[{i}].ip", str(n.ip), f"node {n.name}") for i, n in enumerate(stack.nodes)
    ]


def address_clashes(
    me: str, stack: StackConfig, name: str, other: StackConfig, clusters: ProxmoxClusters
) -> list[str]:
    """On one segment: no address twice (ARP answers from two VMs, and the VIP is moved by
    gratuitous ARP). On different segments: no overlapping networks, since the runners that
    apply the stacks reach every cluster's nodes and VIP by address (docs/delivery.md,
    "Runners"), and an address in both networks routes to one of them only."""
    if same_segment(clusters, me, stack, name, other):
        theirs = {address: what for _, address, what in _addresses(other)}
        where = f"{segment(stack)} of the same Proxmox cluster"
        return [
            str(
                ConfigProblem(
                    key(path),
                    address,
                    f"an address no other stack uses on this network: stack {name} has it as "
                    f"{theirs[address]} on {where}",
                )
            )
            for path, address, _ in _addresses(stack)
            if address in theirs
        ]
    if not stack.network.cidr.overlaps(other.network.cidr):
        return []
    expected = (
        f"a network that does not overlap stack {name}'s {other.network.cidr}, which is on "
        f"another layer-2 segment ({segment(other)}"
        f"{'' if clusters.same(me, name) else ' of another Proxmox cluster'}): the runners reach "
        "both clusters' nodes and VIPs by address, and an address in both networks routes to "
        "one of them only"
    )
    return [str(ConfigProblem(key("network.cidr"), str(stack.network.cidr), expected))]


def minor(version: str) -> str:
    """`v1.13` of `v1.13.9`."""
    return ".".join(version.split(".")[:2])


def version_clashes(
    me: str, stack: StackConfig, name: str, other: StackConfig, clusters: ProxmoxClusters
) -> list[str]:
    """One environment is one GitOps tree (`gitops/envs/<env>`), rendered and validated for one
    Kubernetes version and promoted to all its clusters together: its clusters run one Talos
    minor and one Kubernetes minor. Patches may differ while a rolling upgrade goes cluster by
    cluster."""
    if stack.environment != other.environment:
        return []
    problems = []
    for field_name, what in (("talos_version", "Talos"), ("kubernetes_version", "Kubernetes")):
        mine, theirs = getattr(stack, field_name), getattr(other, field_name)
        if minor(mine) != minor(theirs):
            problems.append(
                str(
                    ConfigProblem(
                        key(field_name),
                        mine,
                        f"the {what} minor of the other clusters of environment "
                        f"{stack.environment}: stack {name} runs {theirs} ({minor(theirs)}); "
                        "only the patch may differ, during a rolling upgrade",
                    )
                )
            )
    return problems


def cloudflare_clashes(
    me: str, stack: StackConfig, name: str, other: StackConfig, clusters: ProxmoxClusters
) -> list[str]:
    """Names Cloudflare holds once: an R2 bucket per account and jurisdiction (the second
    stack's create fails, or an import makes two stacks own, and delete, one bucket), and a public
    hostname per zone (its DNS record: the second create fails with code 81053, and two tunnels
    cannot both route it). A hostname several clusters serve belongs to the edge stack
    (docs/multi-cluster.md), not to each cluster's."""
    problems = []
    mine, theirs = stack.cloudflare, other.cloudflare
    same_bucket = (stack.backup.bucket, stack.backup.jurisdiction) == (
        other.backup.bucket,
        other.backup.jurisdiction,
    )
    if mine.account_id == theirs.account_id and same_bucket:
        problems.append(
            str(
                ConfigProblem(
                    key("backup.bucket"),
                    stack.backup.bucket,
                    f"a bucket of this stack's own: stack {name} uses it in the same Cloudflare "
                    f"account ({mine.account_id}, jurisdiction {stack.backup.jurisdiction})",
                )
            )
        )
    if mine.zone_id == theirs.zone_id:
        # Two clusters of one environment may both route a hostname the edge stack publishes:
        # what may not happen is two DNS records for it (both publish), or two environments'
        # clusters behind one name.
        theirs_by_name = {h.hostname: h for h in theirs.hostnames}
        for i, entry in enumerate(mine.hostnames):
            other_entry = theirs_by_name.get(entry.hostname)
            if other_entry is None:
                continue
            if stack.environment == other.environment and (entry.edge or other_entry.edge):
                continue
            problems.append(
                str(
                    ConfigProblem(
                        key(f"cloudflare.hostnames[{i}].hostname"),
                        entry.hostname,
                        f"a hostname of this stack's own: stack {name} serves it in the "
                        "same zone (one DNS record, one tunnel); a hostname two clusters of "
                        "one environment serve is published by their edge stack, and "
                        "`edge: true` in the cluster stacks",
                    )
                )
            )
    return problems


PAIR_RULES: tuple[Rule, ...] = (
    cluster_name_clashes,
    vm_id_clashes,
    address_clashes,
    datastore_clashes,
    version_clashes,
    cloudflare_clashes,
)


def stack_problems(me: str, stacks: Stacks, others: Iterable[str] | None = None) -> list[str]:
    """The problems of stack `me`'s keys against `others` (default: every other stack of
    `stacks`), each prefixed with its stack file."""
    clusters = ProxmoxClusters.of(stacks)
    stack = stacks[me]
    names = sorted(n for n in (stacks if others is None else others) if n != me)
    against = {n: stacks[n] for n in names}
    found = pool_clashes(stack, against) + network_clashes(stack, against)
    for name in names:
        for rule in PAIR_RULES:
            found += rule(me, stack, name, stacks[name], clusters)
    return [f"{stack_file(me)}: {problem}" for problem in found]


def fleet_problems(stacks: Stacks) -> list[str]:
    """Every problem of the fleet, each pair of stacks once: on the keys of the later stack in
    name order (`prod-b` against `prod`)."""
    names = sorted(stacks)
    return [p for i, me in enumerate(names) for p in stack_problems(me, stacks, names[:i])]
