"""The checks of an edge stack's plan (docs/multi-cluster.md), and the table of which cluster
serves each public hostname.

What Cloudflare needs for a tunnel behind a load balancer (provider paths under
cloudflare/terraform-provider-cloudflare `internal/services/`):
- a pool's origin is a tunnel's `<uuid>.cfargotunnel.com`, with the public hostname as its
  Host header (`load_balancer_pool/schema.go`, `origins[].header.host`; `hosts` in the Pulumi
  SDK, which drops a key it does not know), else the tunnel's ingress rules match nothing and
  answer 404;
- the pool's monitor sends the same Host (`load_balancer_monitor/schema.go`, `header`), else
  the health check fails the same way and the pool is never healthy;
- a pool's name has only letters, digits, `-` and `_`;
- `fallback_pool` is one of the balancer's pools, and every pool of `default_pools` exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .monitoring.central import edge_rule_problems

MONITOR = "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor"
POOL = "cloudflare:index/loadBalancerPool:LoadBalancerPool"
LOAD_BALANCER = "cloudflare:index/loadBalancer:LoadBalancer"
TUNNEL_ORIGIN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.cfargotunnel\.com$"
)
POOL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class EdgeCheck:
    problems: list[str] = field(default_factory=list)
    table: str = ""
    ran: str = ""


def _by_urn(doc: dict[str, Any], typ: str) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in doc["resources"] if r["type"] == typ}


def _id_of(resources: dict[str, dict[str, Any]], value: Any) -> dict[str, Any] | None:
    """The resource whose id (`outputs.id`, or the mock's answer) is `value`."""
    for r in resources.values():
        if r.get("id") == value:
            return r
    return None


def evaluate(doc: dict[str, Any]) -> EdgeCheck:
    """Check every load balancer, pool and monitor of the plan; tabulate who serves what."""
    result = EdgeCheck()
    monitors = _by_urn(doc, MONITOR)
    pools = _by_urn(doc, POOL)
    balancers = _by_urn(doc, LOAD_BALANCER)
    if not balancers:
        return result
    rows = []
    clusters: set[str] = set()
    for lb in sorted(balancers.values(), key=lambda r: r["inputs"].get("name", "")):
        inputs = lb["inputs"]
        hostname = str(inputs.get("name"))
        ordered = [_id_of(pools, pid) for pid in inputs.get("defaultPools") or []]
        if not ordered or any(p is None for p in ordered):
            result.problems.append(f"load balancer {hostname}: a default pool is not in the plan")
            continue
        fallback = _id_of(pools, inputs.get("fallbackPool"))
        if fallback is None or fallback not in ordered:
            result.problems.append(
                f"load balancer {hostname}: fallback_pool is not one of its default pools"
            )
        served_by = []
        for pool in ordered:
            assert pool is not None
            result.problems += _pool_problems(hostname, pool, monitors)
            for origin in pool["inputs"].get("origins") or []:
                served_by.append((str(origin.get("name")), str(origin.get("address")), pool))
                clusters.add(str(origin.get("name")))
        steering = inputs.get("steeringPolicy", "")
        weights = (inputs.get("randomSteering") or {}).get("poolWeights") or {}
        for rank, (cluster, address, pool) in enumerate(served_by, start=1):
            if steering == "random":
                role = f"serves (weight {weights.get(pool['id'], 1)})"
            else:
                role = "serves" if rank == 1 else f"takes over ({rank})"
            if pool is fallback:
                role += ", fallback"
            rows.append((hostname if rank == 1 else "", cluster, role, address))
    result.ran = f"edge {len(balancers)} load balancers over {len(clusters)} clusters"
    # The edge's shared SLO rules (gitops/platform/monitoring/rules/slos/<stack>, tools/slo)
    # load, and read what the SLO rules of its clusters (origins, by stack) record.
    result.problems += edge_rule_problems(str(doc.get("stack", "")), sorted(clusters))
    # The tunnel ids are the offline runs' (`pulumi stack output edge_origin -s <stack>` has
    # the deployed one).
    header = ("HOSTNAME", "CLUSTER", "ROLE", "ORIGIN (offline tunnel id)")
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [header, *rows]
    result.table = "".join(
        "  ".join(cell.ljust(width[i]) for i, cell in enumerate(line)).rstrip() + "\n"
        for line in lines
    )
    return result


def _pool_problems(
    hostname: str, pool: dict[str, Any], monitors: dict[str, dict[str, Any]]
) -> list[str]:
    inputs = pool["inputs"]
    name = str(inputs.get("name", ""))
    problems = []
    if not POOL_NAME.fullmatch(name):
        problems.append(f"pool {name!r}: a name of letters, digits, '-' and '_' only")
    for origin in inputs.get("origins") or []:
        address = str(origin.get("address", ""))
        if not TUNNEL_ORIGIN.fullmatch(address):
            problems.append(
                f"pool {name}: origin {address!r} is not a tunnel's <uuid>.cfargotunnel.com"
            )
        host = (origin.get("header") or {}).get("hosts") or []
        if host != [hostname]:
            problems.append(
                f"pool {name}: origin {origin.get('name')} sends Host {host}, not [{hostname!r}]: "
                "the tunnel's ingress rules would not match it"
            )
    monitor = _id_of(monitors, inputs.get("monitor"))
    if monitor is None:
        problems.append(f"pool {name}: no health monitor of the plan")
    else:
        header = (monitor["inputs"].get("header") or {}).get("Host")
        if header != [hostname]:
            problems.append(
                f"pool {name}: its monitor sends Host {header}, not [{hostname!r}]: every check "
                "would fail at the tunnel and the pool would never be healthy"
            )
    return problems
