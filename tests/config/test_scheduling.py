"""Every stack can schedule what the program itself runs in the cluster (Argo CD, cloudflared):
control planes take pods when there is no worker, enough nodes for Redis HA in prod, cloudflared
replicas on separate nodes, and public names a Universal SSL certificate covers."""

from __future__ import annotations

import pytest

from components.argocd.values import SIZING, argocd_values
from components.cloudflare.cloudflared import deployment_manifest
from components.talos.cluster import node_documents_inputs
from components.talos.documents import machine_patch
from config import validate
from config.rules import REDIS_HA_ENVIRONMENTS
from tests.conftest import NS, STACKS, stack_values, structured, with_key


def config_of(stack: str):
    values, secrets = stack_values(stack)
    result = validate(values, secrets)
    assert result.config is not None
    return result.config


@pytest.mark.parametrize(("stack", "lifted"), [("dev", False), ("staging", True), ("prod", False)])
def test_control_planes_take_workloads_only_without_workers(stack: str, lifted: bool) -> None:
    config = config_of(stack)
    for node in config.nodes:
        _, machine = node_documents_inputs(config, node, "bc:24:11:00:00:01", "installer")
        cluster = machine_patch(machine).get("cluster", {})
        expected = lifted and node.role == "controlplane"
        assert cluster.get("allowSchedulingOnControlPlanes", False) is expected, node.name


def problems(stack: str, **changes: object) -> tuple[list[str], list[str]]:
    values, secrets = stack_values(stack)
    for key, value in changes.items():
        values = with_key(values, key, value)
    result = validate(values, secrets)
    return [str(p) for p in result.problems], result.warnings


def test_prod_needs_three_nodes_for_redis_ha() -> None:
    nodes = structured(stack_values("prod")[0], "nodes")
    two_workers = [n for n in nodes if n["name"] != "prod-worker-3"]
    found, _ = problems("prod", nodes=two_workers)
    assert found == [
        f"{NS}:nodes: got '2 schedulable node(s) (prod-worker-1, prod-worker-2)'; expected 3 or "
        "more nodes that run workloads in prod: Argo CD's Redis HA places its 3 Redis and 3 "
        "HAProxy pods on 3 different nodes"
    ]
    assert {env for env, sizing in SIZING.items() if sizing.ha} == set(REDIS_HA_ENVIRONMENTS)


def test_cloudflared_replicas_beyond_the_nodes_fail_in_staging_and_warn_in_dev() -> None:
    found, _ = problems("staging", cloudflared_replicas=4)
    assert len(found) == 1 and found[0].startswith(f"{NS}:cloudflared_replicas: got 4; expected")
    assert "at most 3" in found[0]
    found, warnings = problems("dev")
    assert found == []
    assert any(w.startswith(f"{NS}:cloudflared_replicas: 2; expected at most 1") for w in warnings)


def test_cloudflared_spread_ignores_nodes_it_cannot_use() -> None:
    pod = deployment_manifest("2026.10.0", 2)["spec"]["template"]["spec"]
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["nodeTaintsPolicy"] == "Honor"


def test_redis_ha_haproxy_rolls_without_a_surge_pod() -> None:
    values = argocd_values("prod", "https://argocd.example.com")
    strategy = values["redis-ha"]["haproxy"]["deploymentStrategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_public_names_are_one_label_below_the_zone(stack: str) -> None:
    cf = structured(stack_values(stack)[0], "cloudflare")
    for entry in cf["hostnames"]:
        assert entry["hostname"].count(".") == cf["zone"].count(".") + 1, entry["hostname"]


def test_deeper_names_need_an_advanced_certificate() -> None:
    values, secrets = stack_values("prod")
    cf = structured(values, "cloudflare")
    cf["hostnames"].append({"hostname": "app.eu.example.com", "service": "http://a.b.svc:80"})
    found = [str(p) for p in validate(with_key(values, "cloudflare", cf), secrets).problems]
    assert len(found) == 1
    last = len(cf["hostnames"]) - 1
    assert found[0].startswith(
        f"{NS}:cloudflare.hostnames[{last}].hostname: got 'app.eu.example.com'; "
        "expected a name at "
        "most one label below example.com (like app-eu.example.com)"
    )
    cf["advanced_certificate"] = True
    assert validate(with_key(values, "cloudflare", cf), secrets).problems == []
