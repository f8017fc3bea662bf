"""An edge stack's configuration (config/edge.py) and the fleet rules that tie it to its cluster
stacks (config/fleet_edge.py): every problem reported together, each naming key, value and
what is expected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from config.edge import is_edge, validate_edge
from config.fleet_edge import cluster_edge_problems, edge_stack_notes, edge_stack_problems
from offline.validators.fleet import FleetFiles, edge_problems, read_fleet
from tests.conftest import NS, stack_values

SECRET = f"{NS}:cloudflare_api_token"


def edge_raw(**changes: Any) -> dict[str, Any]:
    values, _ = stack_values("prod-edge")
    edge = json.loads(values[f"{NS}:edge"])
    edge.update(changes)
    return {**values, f"{NS}:edge": json.dumps(edge)}


def problems(raw: dict[str, Any], secrets: set[str] | None = None) -> list[str]:
    return [str(p) for p in validate_edge(raw, {SECRET} if secrets is None else secrets).problems]


def test_the_shipped_edge_stack_validates_and_is_told_apart_from_a_cluster() -> None:
    raw = edge_raw()
    assert is_edge(raw) and not is_edge(stack_values("prod")[0])
    result = validate_edge(raw, {SECRET})
    assert result.problems == [] and result.config is not None
    assert result.config.edge.stack_names() == ["prod", "prod-b"]
    assert result.config.edge.steering == "failover"


def test_every_problem_of_an_edge_config_is_reported_together() -> None:
    raw = edge_raw(
        clusters=[{"stack": "prod"}, {"stack": "prod"}, {"stack": "no/such"}],
        hostnames=[
            {"hostname": "*.example.com"},
            {"hostname": "app.example.org"},
            {"hostname": "a.b.example.com"},
        ],
        steering="geo",
    )
    raw[f"{NS}:nodes"] = "[]"
    found = problems(raw)
    assert found == [
        f"{NS}:nodes: got '[]'; expected no such key in an edge stack, which holds only "
        "environment, edge and the secret cloudflare_api_token (docs/multi-cluster.md); a "
        "cluster's settings belong in its own stack file",
        f"{NS}:edge.steering: got 'geo'; expected 'failover' or 'random'",
        f"{NS}:edge.clusters[2].stack: got 'no/such'; expected string should match pattern "
        "'^[A-Za-z0-9_.-]{1,100}$'",
    ]
    # Once the fields parse, the rules between them speak.
    raw = edge_raw(
        clusters=[{"stack": "prod"}, {"stack": "prod"}],
        hostnames=[
            {"hostname": "*.example.com"},
            {"hostname": "app.example.org"},
            {"hostname": "a.b.example.com"},
            {"hostname": "app.example.org"},
        ],
    )
    assert problems(raw) == [
        f"{NS}:edge.clusters[0].stack: got 'prod'; expected a cluster stack listed once",
        f"{NS}:edge.clusters[1].stack: got 'prod'; expected a cluster stack listed once",
        f"{NS}:edge.hostnames[0].hostname: got '*.example.com'; expected a single name in the "
        "zone example.com",
        f"{NS}:edge.hostnames[1].hostname: got 'app.example.org'; expected a single name in the "
        "zone example.com",
        f"{NS}:edge.hostnames[1].hostname: got 'app.example.org'; expected a hostname listed once",
        f"{NS}:edge.hostnames[2].hostname: got 'a.b.example.com'; expected a name at most one "
        "label below example.com (like a-b.example.com): Universal SSL covers only example.com "
        "and *.example.com; or set edge.advanced_certificate: true",
        f"{NS}:edge.hostnames[3].hostname: got 'app.example.org'; expected a single name in the "
        "zone example.com",
        f"{NS}:edge.hostnames[3].hostname: got 'app.example.org'; expected a hostname listed once",
    ]


def test_the_token_must_be_set_as_a_secret() -> None:
    raw = edge_raw()
    assert problems(raw, secrets=set()) == [
        f"{SECRET}: got [not shown: the key names a secret]; expected a secret: remove it and run "
        f"`pulumi config set --secret {SECRET} <value>`"
    ]
    del raw[SECRET]
    assert problems(raw, secrets=set()) == [
        f"{SECRET}: got None; expected a secret: run `pulumi config set --secret {SECRET} <value>`"
    ]


@pytest.mark.parametrize(
    ("monitor", "key"),
    [
        ({"path": "readyz"}, "path"),
        ({"expected_codes": "20"}, "expected_codes"),
        ({"interval_seconds": 5}, "interval_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_a_monitor_cloudflare_would_refuse_is_refused(monitor: dict[str, Any], key: str) -> None:
    [problem] = problems(edge_raw(hostnames=[{"hostname": "app.example.com", "monitor": monitor}]))
    assert problem.startswith(f"{NS}:edge.hostnames[0].monitor.{key}: ")


def shipped_fleet() -> FleetFiles:
    fleet = read_fleet()
    assert fleet.unchecked == [] and set(fleet.edges) == {"prod-edge"}
    return fleet


def test_the_shipped_edge_and_its_clusters_agree() -> None:
    assert edge_problems(shipped_fleet()) == []


def test_an_edge_must_name_cluster_stacks_of_its_environment_account_and_zone() -> None:
    fleet = shipped_fleet()
    edge = fleet.edges["prod-edge"]
    staging = edge.edge.model_copy(
        update={
            "clusters": [
                *edge.edge.clusters,
                edge.edge.clusters[0].model_copy(update={"stack": "staging"}),
            ]
        }
    )
    found = edge_stack_problems(
        "prod-edge", type(edge)(environment="prod", edge=staging), fleet.stacks, fleet.edges
    )
    assert found[0] == (
        f"Pulumi.prod-edge.yaml: {NS}:edge.clusters[2].stack: got 'staging'; expected a cluster "
        "of environment prod: stack staging is staging's"
    )
    assert found[1].endswith(
        "expected a hostname stack staging routes: add it to its cloudflare.hostnames with "
        "`edge: true` (else its tunnel answers 404)"
    )
    missing = staging.model_copy(
        update={"clusters": [staging.clusters[0].model_copy(update={"stack": "prod-c"})]}
    )
    found = edge_stack_problems(
        "prod-edge", type(edge)(environment="prod", edge=missing), fleet.stacks, fleet.edges
    )
    assert "expected a cluster stack of this repository whose configuration validates" in found[0]
    # ...and prod, no longer listed, still publishes the hostname itself.
    assert [p.split("expected ")[1][:40] for p in found[1:]] == [
        "a hostname no other stack publishes: sta"
    ]


def test_a_hostname_moves_to_the_edge_in_two_steps_and_is_never_published_by_nobody() -> None:
    fleet = shipped_fleet()
    prod = fleet.stacks["prod"]
    # The shipped prod is at the first step: it still publishes its record, the edge's balancer
    # takes precedence. A note, not a problem.
    assert edge_problems(fleet) == []
    assert edge_stack_notes("prod-edge", fleet.edges["prod-edge"], fleet.stacks) == [
        "Pulumi.prod.yaml: app.example.com still has this stack's own DNS record; "
        "Pulumi.prod-edge.yaml's load balancer takes precedence over it once created, so set "
        '`edge: true` for it there next (docs/multi-cluster.md, "Moving a hostname to the edge '
        'without downtime")'
    ]
    # The second step: `edge: true`, no note.
    moved = [
        h.model_copy(update={"edge": h.hostname == "app.example.com"})
        for h in prod.cloudflare.hostnames
    ]
    stacks = {
        **fleet.stacks,
        "prod": prod.model_copy(
            update={"cloudflare": prod.cloudflare.model_copy(update={"hostnames": moved})}
        ),
    }
    assert edge_stack_problems("prod-edge", fleet.edges["prod-edge"], stacks, fleet.edges) == []
    assert edge_stack_notes("prod-edge", fleet.edges["prod-edge"], stacks) == []
    # An admin UI is each cluster's own: never behind the edge.
    admin = [h.model_copy(update={"admin": True}) for h in prod.cloudflare.hostnames]
    stacks["prod"] = prod.model_copy(
        update={"cloudflare": prod.cloudflare.model_copy(update={"hostnames": admin})}
    )
    [problem] = edge_stack_problems("prod-edge", fleet.edges["prod-edge"], stacks, fleet.edges)
    assert "expected a public hostname: stack prod routes it as an admin UI" in problem
    # An edge hostname no edge stack publishes: the cluster stack is told.
    [problem] = cluster_edge_problems("prod-b", fleet.stacks, {})
    assert problem == (
        f"Pulumi.prod-b.yaml: {NS}:cloudflare.hostnames[0].edge: got True; expected false, or an "
        "edge stack of environment prod that lists this stack in edge.clusters and "
        "app.example.com in edge.hostnames: with `edge: true` this stack creates no DNS record, "
        "so nothing would publish it"
    )
    # Two edge stacks balancing one hostname.
    edges = {**fleet.edges, "prod-edge-2": fleet.edges["prod-edge"]}
    found = edge_stack_problems("prod-edge", fleet.edges["prod-edge"], fleet.stacks, edges)
    assert found == [
        f"Pulumi.prod-edge.yaml: {NS}:edge.hostnames[0].hostname: got 'app.example.com'; "
        "expected a hostname of this edge's own: edge stack prod-edge-2 balances it too"
    ]


def test_the_health_check_path_must_reach_each_clusters_route() -> None:
    """cloudflared sends a path its rule's `path` regex does not match to the 404 catch-all
    (`ingress/rule.go`, `Rule.Matches`): the pool would never be healthy."""
    fleet = shipped_fleet()
    prod_b = fleet.stacks["prod-b"]
    routed = [
        h.model_copy(update={"path": "^/api"}) if h.hostname == "app.example.com" else h
        for h in prod_b.cloudflare.hostnames
    ]
    stacks = {
        **fleet.stacks,
        "prod-b": prod_b.model_copy(
            update={"cloudflare": prod_b.cloudflare.model_copy(update={"hostnames": routed})}
        ),
    }
    [problem] = edge_stack_problems("prod-edge", fleet.edges["prod-edge"], stacks, fleet.edges)
    assert problem == (
        f"Pulumi.prod-edge.yaml: {NS}:edge.hostnames[0].monitor.path: got '/readyz'; expected a "
        "path that stack prod-b's route of app.example.com matches (its `path` is '^/api'): else "
        "its tunnel answers the health check with 404 and its pool is never healthy"
    )
    edge = fleet.edges["prod-edge"]
    monitor = edge.edge.hostnames[0].monitor.model_copy(update={"path": "/api/readyz"})
    hostnames = [edge.edge.hostnames[0].model_copy(update={"monitor": monitor})]
    fixed = type(edge)(
        environment="prod", edge=edge.edge.model_copy(update={"hostnames": hostnames})
    )
    assert edge_stack_problems("prod-edge", fixed, stacks, fleet.edges) == []
    # cloudflared matches the path without its query.
    query = monitor.model_copy(update={"path": "/api/readyz?full=1"})
    hostnames = [edge.edge.hostnames[0].model_copy(update={"monitor": query})]
    with_query = type(edge)(
        environment="prod", edge=edge.edge.model_copy(update={"hostnames": hostnames})
    )
    routed_exact = [
        h.model_copy(update={"path": "^/api/readyz$"}) if h.hostname == "app.example.com" else h
        for h in prod_b.cloudflare.hostnames
    ]
    stacks["prod-b"] = prod_b.model_copy(
        update={"cloudflare": prod_b.cloudflare.model_copy(update={"hostnames": routed_exact})}
    )
    assert edge_stack_problems("prod-edge", with_query, stacks, fleet.edges) == []


def test_a_stack_the_edge_does_not_list_may_not_publish_its_hostname() -> None:
    fleet = shipped_fleet()
    prod_c = fleet.stacks["prod"].model_copy(update={"cluster_name": "prod-c"})
    stacks = {**fleet.stacks, "prod-c": prod_c}
    [problem] = edge_stack_problems("prod-edge", fleet.edges["prod-edge"], stacks, fleet.edges)
    assert problem == (
        f"Pulumi.prod-edge.yaml: {NS}:edge.hostnames[0].hostname: got 'app.example.com'; "
        "expected a hostname no other stack publishes: stack prod-c, which this edge does not "
        "list in edge.clusters, has a DNS record for it that the load balancer would silently "
        "override"
    )
    # A listed cluster publishing it is the first step of a move: a note, not a problem.
    assert edge_stack_notes("prod-edge", fleet.edges["prod-edge"], stacks)[0].startswith(
        "Pulumi.prod.yaml: app.example.com still has this stack's own DNS record"
    )
