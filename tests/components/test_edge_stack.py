"""The edge stack (docs/multi-cluster.md): per shared hostname a load balancer whose pools are
the clusters' own tunnels, read from the cluster stacks' planned outputs through StackReferences;
and the cluster side: a hostname served through the edge is routed, never published, by the
cluster's stack."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pulumi
import pytest

from config.edge import validate_edge
from offline.answers import UnknownStackError, stack_reference
from offline.edge import cluster_outputs, reference_name
from offline.graph import plan_document
from offline.plan_diff import diff_plans
from offline.recorder import SECRET_SIG, SIG
from offline.run import ProgramRun, run_program
from offline.validators import edge as edge_check
from stacks.edge import _checked_tunnels, origin_problems, pending_routes
from tests.conftest import NS, by_type, recorded, stack_values, structured, with_key

EDGE = "prod-edge"
CLUSTERS = tuple(c["stack"] for c in structured(stack_values(EDGE)[0], "edge")["clusters"])
"""The edge's clusters in its failover order, as shipped (prod, prod-b), so a reordering of
`edge.clusters` (docs/multi-cluster.md, "When a site is down") passes these tests."""
MONITOR = edge_check.MONITOR
POOL = edge_check.POOL
LB = edge_check.LOAD_BALANCER
TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def edge_values(**changes: Any) -> dict[str, str]:
    values, _ = stack_values(EDGE)
    edge = structured(values, "edge")
    edge.update(changes)
    return {**values, f"{NS}:edge": json.dumps(edge)}


@cache
def _outputs() -> dict[str, dict[str, Any]]:
    found = cluster_outputs(list(CLUSTERS))
    assert found.problems == []
    return found.outputs


def edge_run(values: dict[str, str] | None = None) -> ProgramRun:
    values = values or stack_values(EDGE)[0]
    return run_program(values, set(stack_values(EDGE)[1]), EDGE, stack_outputs=_outputs())


@cache
def shipped_edge() -> ProgramRun:
    return edge_run()


def tunnel_id(stack: str) -> str:
    """The id the cluster stack's own run gave its tunnel."""
    [tunnel] = [r for r in plan_document(recorded(stack))["resources"] if r["type"] == TUNNEL]
    return str(tunnel["id"])


def test_each_shared_hostname_gets_a_load_balancer_over_every_clusters_tunnel_in_order() -> None:
    run = shipped_edge()
    [lb] = by_type(run, LB)
    pools = {r.id: r for r in by_type(run, POOL)}
    [monitor] = by_type(run, MONITOR)
    assert lb.inputs["name"] == "app.example.com"
    assert lb.inputs["zoneId"] == structured(stack_values(EDGE)[0], "edge")["zone_id"]
    assert lb.inputs["steeringPolicy"] == "off" and lb.inputs["proxied"] is True
    ordered = [pools[pid] for pid in lb.inputs["defaultPools"]]
    # The pools in the config's order, each holding one cluster's tunnel, as that cluster's own
    # plan created it: the id went cluster run -> export -> StackReference -> pool origin.
    assert [p.inputs["origins"][0]["name"] for p in ordered] == list(CLUSTERS)
    for pool, stack in zip(ordered, CLUSTERS, strict=True):
        [origin] = pool.inputs["origins"]
        assert origin["address"] == f"{tunnel_id(stack)}.cfargotunnel.com"
        # `hosts`: the SDK's name of the origin's Host header (a `host` key would be dropped).
        assert origin["header"] == {"hosts": ["app.example.com"]}
        assert pool.inputs["checkRegions"] == ["WEU", "ENAM"]
        assert pool.inputs["monitor"] == monitor.id
        assert pool.inputs["name"] == f"prod-{stack}-app_example_com"
    # Every pool unhealthy (a wrong health check as likely as every cluster down): the first.
    assert lb.inputs["fallbackPool"] == ordered[0].id
    assert monitor.inputs["header"] == {"Host": ["app.example.com"]}
    assert monitor.inputs["type"] == "https" and monitor.inputs["path"] == "/readyz"


def test_the_edge_reads_each_cluster_through_a_stack_reference_and_parents_its_resources() -> None:
    run = shipped_edge()
    reads = by_type(run, STACK_REFERENCE)
    assert sorted(r.read_id for r in reads) == sorted(reference_name(s) for s in CLUSTERS)
    [component] = by_type(run, "talos-platform:edge:PublicEdge")
    [provider] = by_type(run, "pulumi:providers:cloudflare")
    for r in by_type(run, MONITOR) + by_type(run, POOL) + by_type(run, LB):
        assert r.parent == component.urn
        assert r.provider.startswith(provider.urn)
    assert "apiToken" in provider.secret_inputs
    assert run.outputs["hostnames"] == {
        "app.example.com": {"steering": "failover", "clusters": list(CLUSTERS)}
    }


def test_random_steering_weights_each_clusters_pool() -> None:
    values = edge_values(
        steering="random", clusters=[{"stack": "prod"}, {"stack": "prod-b", "weight": 0.5}]
    )
    run = edge_run(values)
    [lb] = by_type(run, LB)
    pools = {r.id: r.inputs["origins"][0]["name"] for r in by_type(run, POOL)}
    assert lb.inputs["steeringPolicy"] == "random"
    weights = {pools[pid]: w for pid, w in lb.inputs["randomSteering"]["poolWeights"].items()}
    assert weights == {"prod": 1.0, "prod-b": 0.5}


def test_the_plan_table_names_who_serves_and_who_takes_over() -> None:
    check = edge_check.evaluate(plan_document(shipped_edge()))
    assert check.problems == []
    rows = [line.split() for line in check.table.splitlines()[1:]]
    assert rows[0][:4] == ["app.example.com", CLUSTERS[0], "serves,", "fallback"]
    assert rows[1][:3] == [CLUSTERS[1], "takes", "over"]
    assert check.ran == "edge 1 load balancers over 2 clusters"


def test_the_edge_check_fails_a_pool_whose_host_header_misses_the_tunnels_route() -> None:
    doc = copy.deepcopy(plan_document(shipped_edge()))  # the run is cached: edit a copy
    for r in doc["resources"]:
        if r["type"] == POOL:
            r["inputs"]["origins"][0]["header"] = {"hosts": ["www.example.com"]}
        if r["type"] == MONITOR:
            r["inputs"]["header"] = {}
    problems = edge_check.evaluate(doc).problems
    assert len(problems) == 4
    assert all("Host" in p for p in problems)


def test_a_cluster_routes_an_edge_hostname_but_publishes_no_record_and_exports_its_origin() -> None:
    prod_values, _ = stack_values("prod")
    cloudflare = structured(prod_values, "cloudflare")
    cloudflare["hostnames"][0]["edge"] = True  # prod after the second step of the move
    runs = {
        "prod": recorded("prod", with_key(prod_values, "cloudflare", cloudflare)),
        "prod-b": recorded("prod-b"),
    }
    for stack, run in runs.items():
        [config] = by_type(run, TUNNEL_CONFIG)
        routed = [rule.get("hostname") for rule in config.inputs["config"]["ingresses"]]
        assert "app.example.com" in routed
        assert "app.example.com" not in [r.inputs["name"] for r in by_type(run, DNS)]
        assert run.outputs["edge_origin"] == {
            "cluster_name": stack,
            "environment": "prod",
            "account_id": "0123456789abcdef0123456789abcdef",
            "tunnel_id": tunnel_id(stack),
            "hostnames": ["app.example.com"],
        }
    # The shipped prod is at the first step: its record stays while the edge takes over.
    assert "app.example.com" in [r.inputs["name"] for r in by_type(recorded("prod"), DNS)]


def test_the_edge_checks_every_cluster_before_it_creates_anything() -> None:
    """One error for all clusters, raised before any Cloudflare resource is registered: the
    monitors (the edge's first resources) wait for the check, and the pools for the tunnel ids
    it returns."""
    values, secrets = stack_values(EDGE)
    outputs = {k: dict(v) for k, v in _outputs().items()}
    for name in outputs:
        outputs[name]["edge_origin"] = {**outputs[name]["edge_origin"], "environment": "staging"}
    registered: list[str] = []
    with pytest.raises(Exception, match=r"cannot use its cluster stacks \(2 problem\(s\)\)"):
        run_program(
            values,
            set(secrets),
            EDGE,
            stack_outputs=outputs,
            on_register=lambda reg: registered.append(reg.type),
        )
    assert "talos-platform:edge:PublicEdge" in registered
    assert [t for t in registered if t.startswith("cloudflare:")] == []


def test_the_edge_refuses_a_cluster_that_does_not_serve_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values, _ = stack_values(EDGE)
    edge = validate_edge(values, {f"{NS}:cloudflare_api_token"}).config
    assert edge is not None
    origin = {
        "environment": "staging",
        "account_id": "f" * 32,
        "tunnel_id": "79e01c87-1fc9-5ca7-aa71-a65f11838732",
        "hostnames": [],
    }
    assert origin_problems(edge, "prod-b", origin) == [
        "stack prod-b is a cluster of environment staging, not prod",
        f"stack prod-b's tunnel is in Cloudflare account {'f' * 32}: a tunnel serves only load "
        "balancer pools of its own account (0123456789abcdef0123456789abcdef)",
    ]
    unrouted = "stack prod-b's tunnel does not route app.example.com as a public hostname"
    assert [p.split(":")[0] for p in pending_routes(edge, "prod-b", origin)] == [unrouted]
    assert origin_problems(edge, "prod-b", None)[0].startswith(
        "stack prod-b has no output edge_origin: run `pulumi up` on it first"
    )
    # A route not deployed yet: an error in `pulumi up`, a warning in a preview (the pull
    # request that adds the hostname to the cluster and the edge; the deploy runs the cluster
    # first).
    prod = {**origin, "environment": "prod", "account_id": edge.edge.account_id}
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
    with pytest.raises(pulumi.RunError, match=unrouted):
        _checked_tunnels(edge, [prod] * len(CLUSTERS))
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    origins = [prod] * len(CLUSTERS)
    assert _checked_tunnels(edge, origins) == dict.fromkeys(CLUSTERS, prod["tunnel_id"])
    assert len(warnings) == len(CLUSTERS)
    assert warnings[0].startswith(f"stack {CLUSTERS[0]}'s tunnel does not route")


def test_a_stack_reference_answers_what_the_engine_reads() -> None:
    """pulumi `pkg/resource/deploy/builtins.go`, readStackReference: id the stack's name, its
    outputs, and the sorted names of the secret ones (their values are secrets); a stack the
    backend does not have is an error."""
    name = reference_name("prod")
    outputs = _outputs()[name]
    ref_id, answer = stack_reference(name, _outputs())
    assert ref_id == name and answer["name"] == name
    secret_names = sorted(k for k, v in outputs.items() if v == "[secret]")
    assert "kubeconfig" in secret_names and "edge_origin" not in secret_names
    assert answer["secretOutputNames"] == secret_names
    assert answer["outputs"]["edge_origin"] == outputs["edge_origin"]
    assert answer["outputs"]["kubeconfig"] == {SIG: SECRET_SIG, "value": "[secret]"}
    with pytest.raises(UnknownStackError, match="no stack named"):
        stack_reference(reference_name("prod-c"), _outputs())


def test_removing_a_cluster_touches_no_resource_of_the_other() -> None:
    """prod-b leaves the edge (the first step of removing it): the edge's diff deletes prod-b's
    pool and updates the balancer's pool list; prod's pool and the monitor are untouched, and
    prod's own plan does not depend on prod-b at all."""
    before = plan_document(shipped_edge())
    kept, removed = CLUSTERS[:-1], CLUSTERS[-1]
    after = plan_document(edge_run(edge_values(clusters=[{"stack": s} for s in kept])))
    diff = diff_plans(before, after)
    assert [d.name for d in diff.deleted] == [f"edge-pool-{removed}-app-example-com"]
    assert diff.created == []
    [change] = diff.changed
    assert (change.name, change.operation) == ("edge-lb-app-example-com", "update")
    assert {c.path.split("[")[0] for c in change.changes} <= {
        "inputs.defaultPools",
        "inputs.fallbackPool",
        "inputs.description",
    }
    # The provider, the component, the monitor and prod's pool: untouched. (The StackReference
    # to prod-b goes too; a read resource is only read, the diff leaves it out.)
    managed = [r for r in before["resources"] if not r.get("read")]
    assert diff.unchanged == len(managed) - 2 == 4
    # And no cluster stack reads another stack: destroying prod-b cannot change prod's inputs.
    for stack in CLUSTERS:
        assert by_type(recorded(stack), STACK_REFERENCE) == []
