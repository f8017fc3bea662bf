"""The edge stack of an environment (docs/multi-cluster.md): reads each cluster stack's tunnel
through a StackReference and builds the load balancers of the shared public hostnames."""

from __future__ import annotations

from typing import Any

import pulumi

from components.edge import ClusterOrigin, PublicEdge, PublicEdgeArgs
from components.providers import cloudflare_provider
from config.edge import EdgeStack, load_edge

ORIGIN_OUTPUT = "edge_origin"
"""The cluster stacks' output the edge reads (stacks/cluster.py exports it)."""


def origin_problems(edge: EdgeStack, stack: str, origin: Any) -> list[str]:
    """What keeps cluster stack `stack`'s exported `edge_origin` from serving this edge."""
    if not isinstance(origin, dict) or not origin.get("tunnel_id"):
        return [
            f"stack {stack} has no output {ORIGIN_OUTPUT}: run `pulumi up` on it first (a "
            "cluster stack is created before the edge stack that balances over it)"
        ]
    problems = []
    if origin.get("environment") != edge.environment:
        problems.append(
            f"stack {stack} is a cluster of environment {origin.get('environment')}, not "
            f"{edge.environment}"
        )
    if origin.get("account_id") != edge.edge.account_id:
        problems.append(
            f"stack {stack}'s tunnel is in Cloudflare account {origin.get('account_id')}: a "
            f"tunnel serves only load balancer pools of its own account ({edge.edge.account_id})"
        )
    return problems


def pending_routes(edge: EdgeStack, stack: str, origin: Any) -> list[str]:
    """The edge hostnames cluster stack `stack`'s deployed tunnel does not route yet. A pull
    request that adds a hostname to a cluster and to the edge together previews the edge
    against the cluster as deployed, without the route; the deploy updates the cluster first."""
    if not isinstance(origin, dict):
        return []
    routed = set(origin.get("hostnames") or [])
    return [
        f"stack {stack}'s tunnel does not route {entry.hostname} as a public hostname: add it to "
        "its cloudflare.hostnames with `edge: true`, and `pulumi up` it first"
        for entry in edge.edge.hostnames
        if entry.hostname not in routed
    ]


def _checked_tunnels(edge: EdgeStack, origins: list[Any]) -> dict[str, str]:
    """Every cluster's tunnel id, by stack, once every cluster's `edge_origin` was checked; one
    error listing the problems of all of them otherwise. A route not deployed yet is an error in
    `pulumi up` and a warning in a preview (the cluster's own update comes first)."""
    names = edge.edge.stack_names()
    pairs = list(zip(names, origins, strict=True))
    problems = [p for name, origin in pairs for p in origin_problems(edge, name, origin)]
    pending = [p for name, origin in pairs for p in pending_routes(edge, name, origin)]
    if pulumi.runtime.is_dry_run():
        for note in pending:
            pulumi.log.warn(f"{note} (before this edge stack's `pulumi up`)")
    else:
        problems += pending
    if problems:
        raise pulumi.RunError(
            f"the edge cannot use its cluster stacks ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return {name: str(origin["tunnel_id"]) for name, origin in pairs}


def build() -> None:
    """Load and validate the edge config, read the clusters' tunnels, build the edge, export."""
    edge, secrets = load_edge()
    organization, project = pulumi.get_organization(), pulumi.get_project()
    provider = cloudflare_provider(secrets.cloudflare_api_token)
    references = [
        pulumi.StackReference(f"{organization}/{project}/{cluster.stack}")
        for cluster in edge.edge.clusters
    ]
    # All clusters checked together, before the first resource of the edge is created.
    tunnels = pulumi.Output.all(*[r.get_output(ORIGIN_OUTPUT) for r in references]).apply(
        lambda origins: _checked_tunnels(edge, list(origins))
    )
    origins = [
        ClusterOrigin(
            cluster.stack,
            cluster.weight,
            tunnels.apply(lambda ids, name=cluster.stack: ids[name]),
        )
        for cluster in edge.edge.clusters
    ]
    public = PublicEdge(
        "edge",
        PublicEdgeArgs(
            environment=edge.environment,
            edge=edge.edge,
            origins=origins,
            project=project,
            stack=pulumi.get_stack(),
            cloudflare_provider=provider,
            checked=tunnels,
        ),
    )
    # Which cluster serves each hostname: with `failover` the first, the next when it is down.
    pulumi.export(
        "hostnames",
        {
            entry.hostname: {"steering": edge.edge.steering, "clusters": edge.edge.stack_names()}
            for entry in edge.edge.hostnames
        },
    )
    pulumi.export("load_balancers", {h: lb.id for h, lb in public.load_balancers.items()})
