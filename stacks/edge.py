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
    routed = set(origin.get("hostnames") or [])
    for entry in edge.edge.hostnames:
        if entry.hostname not in routed:
            problems.append(
                f"stack {stack}'s tunnel does not route {entry.hostname} as a public hostname: "
                "add it to its cloudflare.hostnames with `edge: true`, and `pulumi up` it first"
            )
    return problems


def _tunnel_id(edge: EdgeStack, stack: str, origin: Any) -> str:
    problems = origin_problems(edge, stack, origin)
    if problems:
        raise pulumi.RunError(
            f"the edge cannot use cluster stack {stack} ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return str(origin["tunnel_id"])


def build() -> None:
    """Load and validate the edge config, read the clusters' tunnels, build the edge, export."""
    edge, secrets = load_edge()
    organization, project = pulumi.get_organization(), pulumi.get_project()
    provider = cloudflare_provider(secrets.cloudflare_api_token)
    origins = []
    for cluster in edge.edge.clusters:
        reference = pulumi.StackReference(f"{organization}/{project}/{cluster.stack}")
        tunnel_id = reference.get_output(ORIGIN_OUTPUT).apply(
            lambda origin, name=cluster.stack: _tunnel_id(edge, name, origin)
        )
        origins.append(ClusterOrigin(cluster.stack, cluster.weight, tunnel_id))
    public = PublicEdge(
        "edge",
        PublicEdgeArgs(
            environment=edge.environment,
            edge=edge.edge,
            origins=origins,
            project=project,
            stack=pulumi.get_stack(),
            cloudflare_provider=provider,
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
