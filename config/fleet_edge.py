"""The fleet rules of edge stacks (docs/multi-cluster.md, "The fleet rules"): an edge stack and
the cluster stacks it balances over must agree, or a hostname is published by nobody, by two
owners, or by a pool that cannot reach its tunnel.

- `edge_stack_problems`: each cluster an edge stack names is a cluster stack of the repository,
  of the edge's environment, Cloudflare account and zone, and its tunnel routes every hostname
  of the edge, as a public (not admin) hostname whose `path` (if any) the monitor's path
  matches; no stack the edge does not list publishes one of its hostnames; no two edge stacks
  share a hostname.
- `edge_stack_notes`: a cluster stack that still publishes an edge hostname with its own DNS
  record. The load balancer takes precedence over a record of its name
  (`load_balancer/schema.go`, `name`), so this is the first step of moving a hostname to the
  edge without downtime (docs/multi-cluster.md); the next sets `edge: true`.
- `cluster_edge_problems`: each hostname a cluster stack marks `edge: true` is published by an
  edge stack of its environment that names that cluster (else nothing publishes it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .edge import EdgeStack
from .errors import ConfigProblem, key
from .fleet import Stacks, stack_file

Edges = Mapping[str, EdgeStack]


def edge_stack_problems(me: str, edge: EdgeStack, stacks: Stacks, edges: Edges) -> list[str]:
    """The problems of edge stack `me`'s keys against the cluster stacks and the other edges."""
    found: list[ConfigProblem] = []
    cf = edge.edge
    for i, cluster in enumerate(cf.clusters):
        where = key(f"edge.clusters[{i}].stack")
        other = stacks.get(cluster.stack)
        if other is None:
            found.append(
                ConfigProblem(
                    where,
                    cluster.stack,
                    f"a cluster stack of this repository whose configuration validates "
                    f"({stack_file(cluster.stack)}; python -m offline.plan --stack "
                    f"{cluster.stack})",
                )
            )
            continue
        if other.environment != edge.environment:
            found.append(
                ConfigProblem(
                    where,
                    cluster.stack,
                    f"a cluster of environment {edge.environment}: stack {cluster.stack} is "
                    f"{other.environment}'s",
                )
            )
        if (other.cloudflare.account_id, other.cloudflare.zone_id) != (cf.account_id, cf.zone_id):
            found.append(
                ConfigProblem(
                    where,
                    cluster.stack,
                    "a cluster in this edge's Cloudflare account and zone: a tunnel serves only "
                    f"load balancer pools of its own account, and stack {cluster.stack} has "
                    f"account {other.cloudflare.account_id}, zone {other.cloudflare.zone_id}",
                )
            )
        routed = {h.hostname: h for h in other.cloudflare.hostnames}
        for j, entry in enumerate(cf.hostnames):
            route = routed.get(entry.hostname)
            if route is None:
                found.append(
                    ConfigProblem(
                        key(f"edge.hostnames[{j}].hostname"),
                        entry.hostname,
                        f"a hostname stack {cluster.stack} routes: add it to its "
                        "cloudflare.hostnames with `edge: true` (else its tunnel answers 404)",
                    )
                )
            elif route.admin:
                found.append(
                    ConfigProblem(
                        key(f"edge.hostnames[{j}].hostname"),
                        entry.hostname,
                        f"a public hostname: stack {cluster.stack} routes it as an admin UI, "
                        "which is each cluster's own, behind Cloudflare Access",
                    )
                )
            elif route.path and not _path_matches(route.path, entry.monitor.path):
                # cloudflared matches the rule's `path` regex against the request's path and
                # sends anything else to the catch-all 404 (cloudflared `ingress/rule.go`,
                # `Matches`): the health check would never pass through this cluster.
                found.append(
                    ConfigProblem(
                        key(f"edge.hostnames[{j}].monitor.path"),
                        entry.monitor.path,
                        f"a path that stack {cluster.stack}'s route of {entry.hostname} matches "
                        f"(its `path` is {route.path!r}): else its tunnel answers the health "
                        "check with 404 and its pool is never healthy",
                    )
                )
    listed = set(cf.stack_names())
    for j, entry in enumerate(cf.hostnames):
        for name in sorted(set(stacks) - listed):
            other = stacks[name]
            publishes = any(
                h.hostname == entry.hostname and not h.edge for h in other.cloudflare.hostnames
            )
            if publishes and other.cloudflare.zone_id == cf.zone_id:
                found.append(
                    ConfigProblem(
                        key(f"edge.hostnames[{j}].hostname"),
                        entry.hostname,
                        f"a hostname no other stack publishes: stack {name}, which this edge "
                        "does not list in edge.clusters, has a DNS record for it that the load "
                        "balancer would silently override",
                    )
                )
        for name in sorted(n for n in edges if n != me):
            theirs = edges[name].edge
            if theirs.zone_id == cf.zone_id and entry.hostname in {
                h.hostname for h in theirs.hostnames
            }:
                found.append(
                    ConfigProblem(
                        key(f"edge.hostnames[{j}].hostname"),
                        entry.hostname,
                        f"a hostname of this edge's own: edge stack {name} balances it too",
                    )
                )
    return [f"{stack_file(me)}: {p}" for p in found]


def _path_matches(pattern: str, path: str) -> bool:
    """cloudflared's `path` rule: a Go regular expression searched in the URL's path, without
    its query (`proxy/proxy.go`, `req.URL.Path`). Python's `re` reads the patterns the config
    accepts the same way (config/ingress.py checks them)."""
    try:
        return re.search(pattern, urlsplit(path).path) is not None
    except re.error:  # the cluster's own validation reports the pattern
        return True


def edge_stack_notes(me: str, edge: EdgeStack, stacks: Stacks) -> list[str]:
    """Clusters of edge stack `me` that still publish one of its hostnames themselves."""
    notes = []
    for entry in edge.edge.hostnames:
        for name in sorted(n for n in stacks if n in edge.edge.stack_names()):
            other = stacks[name]
            if other.cloudflare.zone_id != edge.edge.zone_id:
                continue
            if any(h.hostname == entry.hostname and not h.edge for h in other.cloudflare.hostnames):
                notes.append(
                    f"{stack_file(name)}: {entry.hostname} still has this stack's own DNS "
                    f"record; {stack_file(me)}'s load balancer takes precedence over it once "
                    "created, so set `edge: true` for it there next (docs/multi-cluster.md, "
                    '"Moving a hostname to the edge without downtime")'
                )
    return notes


def cluster_edge_problems(me: str, stack: Stacks, edges: Edges) -> list[str]:
    """The problems of cluster stack `me`'s `edge: true` hostnames: each needs an edge stack of
    its environment that names this cluster and publishes the hostname."""
    mine = stack[me]
    found = []
    for i, entry in enumerate(mine.cloudflare.hostnames):
        if not entry.edge:
            continue
        served = any(
            edge.environment == mine.environment
            and me in edge.edge.stack_names()
            and entry.hostname in {h.hostname for h in edge.edge.hostnames}
            for edge in edges.values()
        )
        if not served:
            found.append(
                ConfigProblem(
                    key(f"cloudflare.hostnames[{i}].edge"),
                    entry.edge,
                    f"false, or an edge stack of environment {mine.environment} that lists this "
                    f"stack in edge.clusters and {entry.hostname} in edge.hostnames: with "
                    "`edge: true` this stack creates no DNS record, so nothing would publish it",
                )
            )
    return [f"{stack_file(me)}: {p}" for p in found]
