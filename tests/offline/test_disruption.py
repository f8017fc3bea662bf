"""PodDisruptionBudgets must let `talosctl upgrade` drain a node: every shipped one allows a
disruption in every stack, and each way of blocking a drain is reported with where it is."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.argocd.values import argocd_values
from offline.validators import gitops
from offline.validators.checks import run_checks
from offline.validators.disruption import (
    PDB_TYPE,
    RELEASE_TYPE,
    WHY,
    allowed_disruptions,
    disruption_problems,
    evaluate,
    gitops_budgets,
)
from tests.conftest import STACKS, document

LABELS = {"app.kubernetes.io/name": "demo"}


def deployment(replicas: int | None = 2, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": LABELS},
        "template": {
            "metadata": {"labels": labels or LABELS},
            "spec": {"containers": [{"name": "demo", "image": "demo:1.0"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "type": "kubernetes:apps/v1:Deployment",
        "name": "demo-deployment",
        "inputs": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "demo", "namespace": "demo"},
            "spec": spec,
        },
    }


def pdb(namespace: str = "demo", selector: Any = None, **setting: Any) -> dict[str, Any]:
    return {
        "type": PDB_TYPE,
        "name": "demo-pdb",
        "inputs": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "demo", "namespace": namespace},
            "spec": {"selector": selector or {"matchLabels": LABELS}, **setting},
        },
    }


def plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resources": list(resources), "invokes": []}


# --- The shipped stacks ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_budgets_all_allow_a_disruption(stack: str) -> None:
    report = evaluate(document(stack))
    assert report.problems == []
    seen = {(b.where, b.name) for b in report.budgets}
    expected = {
        ("gitops/apps/podinfo/base/frontend.yaml", "PodDisruptionBudget podinfo/frontend"),
        ("gitops/apps/podinfo/base/backend.yaml", "PodDisruptionBudget podinfo/backend"),
    }
    if stack != "dev":  # dev runs its workloads on one node: no cloudflared budget there
        expected.add(("resource cloudflared-pdb", "PodDisruptionBudget cloudflared/cloudflared"))
        # Two metrics-server replicas and a budget (gitops/platform) from staging on.
        expected.add(
            (
                "upstream/charts/metrics-server/templates/pdb.yaml",
                "PodDisruptionBudget kube-system/metrics-server",
            )
        )
    if stack == "prod":
        expected |= {
            (f"argocd values: {c}.pdb", f"the {c} PodDisruptionBudget of argo-cd 10.1.1")
            for c in ("server", "repoServer", "applicationSet")
        }
        # Two Prometheus and two Alertmanager replicas (docs/monitoring.md).
        expected |= {
            (
                f"upstream/charts/kube-prometheus-stack/templates/{c}/podDisruptionBudget.yaml",
                f"PodDisruptionBudget monitoring/kube-prometheus-stack-{c}",
            )
            for c in ("prometheus", "alertmanager")
        }
    assert seen == expected
    for budget in report.budgets:
        assert budget.replicas >= 1
        assert budget.allowed is not None
        assert budget.allowed >= 1, budget
    podinfo = [b for b in report.budgets if b.name.startswith("PodDisruptionBudget podinfo/")]
    assert all("minReplicas of HorizontalPodAutoscaler" in b.workloads[0] for b in podinfo)


def test_the_check_runs_with_the_plan_checks() -> None:
    doc = plan(deployment(replicas=1), pdb(minAvailable=1))
    problems = run_checks(doc, "v1.36.2").problems
    assert any(p.startswith("resource demo-pdb: PodDisruptionBudget demo/demo") for p in problems)


# --- The rule ----------------------------------------------------------------------------------


def test_min_available_equal_to_replicas_is_reported_exactly() -> None:
    problems = disruption_problems(plan(deployment(replicas=2), pdb(minAvailable=2)))
    assert problems == [
        "resource demo-pdb: PodDisruptionBudget demo/demo (minAvailable: 2) allows no disruption "
        "of the 2 pods of Deployment demo/demo (2, spec.replicas): `talosctl upgrade` drains "
        "each node and fails after --drain-timeout when no pod may be evicted, leaving the node "
        "cordoned; run at least 3 replicas, or use maxUnavailable: 1 instead"
    ]


def test_max_unavailable_zero_is_reported() -> None:
    [problem] = disruption_problems(plan(deployment(replicas=3), pdb(maxUnavailable=0)))
    assert problem.startswith(
        "resource demo-pdb: PodDisruptionBudget demo/demo (maxUnavailable: 0)"
    )
    assert WHY in problem
    assert problem.endswith("set maxUnavailable: 1 (or more)")


def test_unset_replicas_count_as_one() -> None:
    [problem] = disruption_problems(plan(deployment(replicas=None), pdb(minAvailable=1)))
    assert "the 1 pod of Deployment demo/demo (1, spec.replicas unset)" in problem


def test_neither_setting_defaults_to_min_available_one() -> None:
    [problem] = disruption_problems(plan(deployment(replicas=1), pdb()))
    assert "(minAvailable: 1 (the default when neither is set))" in problem
    assert disruption_problems(plan(deployment(replicas=2), pdb())) == []


@pytest.mark.parametrize(
    ("key", "amount", "replicas", "allowed"),
    [
        ("minAvailable", "50%", 2, 1),
        ("minAvailable", "51%", 2, 0),  # keeps ceil(1.02) = 2
        ("minAvailable", "100%", 5, 0),
        ("minAvailable", "34%", 3, 1),  # keeps ceil(1.02) = 2
        ("maxUnavailable", "10%", 3, 1),  # ceil(0.3) = 1
        ("maxUnavailable", "0%", 3, 0),
        ("maxUnavailable", "50%", 3, 2),
        ("maxUnavailable", 5, 2, 2),
        ("minAvailable", 3, 2, 0),
    ],
)
def test_allowed_disruptions(key: str, amount: int | str, replicas: int, allowed: int) -> None:
    assert allowed_disruptions(key, amount, replicas) == allowed


def test_percentages_in_a_budget() -> None:
    assert disruption_problems(plan(deployment(replicas=2), pdb(minAvailable="50%"))) == []
    [problem] = disruption_problems(plan(deployment(replicas=2), pdb(minAvailable="51%")))
    assert "(minAvailable: 51%)" in problem
    assert problem.endswith("run at least 3 replicas, or use maxUnavailable: 1 instead")
    [problem] = disruption_problems(plan(deployment(replicas=4), pdb(maxUnavailable="0%")))
    assert "(maxUnavailable: 0%)" in problem


def test_a_budget_selecting_nothing_is_reported() -> None:
    typo = {"matchLabels": {"app.kubernetes.io/name": "dmeo"}}
    [problem] = disruption_problems(plan(deployment(), pdb(selector=typo, maxUnavailable=1)))
    assert problem.startswith(
        "resource demo-pdb: PodDisruptionBudget demo/demo (maxUnavailable: 1) selects no "
        "Deployment or StatefulSet in namespace demo"
    )
    assert "it protects nothing, probably a typo" in problem
    # The right labels in another namespace select nothing either.
    [problem] = disruption_problems(plan(deployment(), pdb(namespace="other", maxUnavailable=1)))
    assert "selects no Deployment or StatefulSet in namespace other" in problem


def test_match_expressions() -> None:
    selector = {
        "matchExpressions": [
            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["demo"]},
            {"key": "tier", "operator": "DoesNotExist"},
        ]
    }
    assert disruption_problems(plan(deployment(), pdb(selector=selector, minAvailable=1))) == []
    [problem] = disruption_problems(plan(deployment(), pdb(selector=selector, minAvailable=2)))
    assert "allows no disruption" in problem
    odd = {"matchExpressions": [{"key": "a", "operator": "Near", "values": ["b"]}]}
    [problem] = disruption_problems(plan(deployment(), pdb(selector=odd, minAvailable=1)))
    assert "spec.selector.matchExpressions[0].operator: 'Near' is not understood" in problem


def test_both_settings_are_reported() -> None:
    [problem] = disruption_problems(plan(deployment(), pdb(minAvailable=1, maxUnavailable=1)))
    assert "sets both minAvailable and maxUnavailable" in problem


# --- The argo-cd release -----------------------------------------------------------------------


def release(values: dict[str, Any]) -> dict[str, Any]:
    inputs = {"chart": "argo-cd", "version": "10.1.1", "name": "argocd", "values": values}
    return {"type": RELEASE_TYPE, "name": "argocd", "inputs": inputs}


def prod_values() -> dict[str, Any]:
    return copy.deepcopy(argocd_values("prod", "https://argocd.example.com"))


def test_argocd_pdb_with_one_replica_is_reported() -> None:
    values = prod_values()
    values["server"]["replicas"] = 1
    [problem] = disruption_problems(plan(release(values)))
    assert problem == (
        "argocd values: server.pdb: the server PodDisruptionBudget of argo-cd 10.1.1 "
        "(minAvailable: 1) allows no disruption of the 1 pod of the server Deployment "
        f"(1, server.replicas): {WHY}; run at least 2 replicas, or use maxUnavailable: 1 instead"
    )


def test_argocd_chart_semantics() -> None:
    values = prod_values()
    # An empty maxUnavailable falls back to minAvailable; autoscaling sets the replica count.
    values["repoServer"]["pdb"]["maxUnavailable"] = ""
    values["repoServer"]["autoscaling"] = {"enabled": True, "minReplicas": 1}
    # An unset minAvailable renders `minAvailable: 0`, which blocks nothing.
    values["controller"]["pdb"] = {"enabled": True}
    [problem] = disruption_problems(plan(release(values)))
    assert problem.startswith("argocd values: repoServer.pdb:")
    assert "(1, repoServer.autoscaling.minReplicas)" in problem
    report = evaluate(plan(release(values)))
    controller = next(b for b in report.budgets if b.where == "argocd values: controller.pdb")
    assert (controller.setting, controller.allowed) == ("minAvailable: 0", 1)


def test_redis_ha_budgets_are_checked_when_set() -> None:
    values = prod_values()
    values["redis-ha"]["podDisruptionBudget"] = {"minAvailable": 3}
    values["redis-ha"]["haproxy"]["podDisruptionBudget"] = {"maxUnavailable": 1}
    report = evaluate(plan(release(values)))
    assert [b.where for b in report.budgets if b.where.startswith("argocd values: redis-ha")] == [
        "argocd values: redis-ha.podDisruptionBudget",
        "argocd values: redis-ha.haproxy.podDisruptionBudget",
    ]
    [problem] = report.problems
    assert problem.startswith("argocd values: redis-ha.podDisruptionBudget:")
    assert "(3, redis-ha.replicas unset)" in problem


# --- The GitOps tree ---------------------------------------------------------------------------


def rendered_app(min_replicas: int) -> dict[str, list[gitops.RenderedObject]]:
    """An environment whose Application puts a namespace-less app folder in `demo`."""
    folder = "gitops/apps/demo/overlays/dev"
    application = {
        "apiVersion": gitops.ARGOCD_API_VERSION,
        "kind": "Application",
        "metadata": {"name": "demo", "namespace": "argocd"},
        "spec": {
            "source": {"repoURL": gitops.GITOPS_REPO_URL, "path": folder},
            "destination": {"server": gitops.IN_CLUSTER_SERVER, "namespace": "demo"},
        },
    }
    workload = deployment(replicas=3)["inputs"]
    del workload["metadata"]["namespace"]
    budget = pdb(minAvailable=1)["inputs"]
    del budget["metadata"]["namespace"]
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "demo"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"},
            "minReplicas": min_replicas,
            "maxReplicas": 5,
        },
    }
    origin = "gitops/apps/demo/base/demo.yaml"
    return {
        "gitops/envs/dev": [gitops.RenderedObject(application, "gitops/envs/dev/demo.yaml")],
        folder: [gitops.RenderedObject(m, origin) for m in (workload, budget, hpa)],
    }


def test_hpa_min_replicas_one_with_min_available_one_is_reported() -> None:
    [budget] = gitops_budgets(rendered_app(min_replicas=1), "argocd")
    assert budget.problem == (
        "gitops/apps/demo/base/demo.yaml: PodDisruptionBudget demo/demo (minAvailable: 1) "
        "allows no disruption of the 1 pod of Deployment demo/demo (1, minReplicas of "
        f"HorizontalPodAutoscaler demo/demo): {WHY}; run at least 2 replicas, or use "
        "maxUnavailable: 1 instead"
    )
    [budget] = gitops_budgets(rendered_app(min_replicas=2), "argocd")
    assert (budget.replicas, budget.allowed, budget.problem) == (2, 1, None)


# --- Malformed budgets and workloads -----------------------------------------------------------


def test_malformed_argocd_values_are_reported_per_budget() -> None:
    values = prod_values()
    values["server"]["replicas"] = "two"
    values["repoServer"]["pdb"] = "yes"
    report = evaluate(plan(release(values)))
    chart = "argo-cd 10.1.1"
    assert report.problems == [
        f"argocd values: server.pdb: the server PodDisruptionBudget of {chart}: server.replicas: "
        f"'two' is not a whole number; this check cannot tell whether it lets a node drain ({WHY})",
        f"argocd values: repoServer.pdb: the repoServer PodDisruptionBudget of {chart}: "
        "repoServer.pdb: 'yes' is not a map; this check cannot tell whether it lets a node "
        f"drain ({WHY})",
    ]
    assert "argocd values: applicationSet.pdb" in [b.where for b in report.budgets]


def test_malformed_workloads_and_selectors_are_reported_per_budget() -> None:
    bad = deployment()
    bad["inputs"]["spec"]["replicas"] = "two"
    [problem] = disruption_problems(plan(bad, pdb()))
    assert problem.startswith(
        "resource demo-pdb: PodDisruptionBudget demo/demo: Deployment demo/demo: spec.replicas: "
        "'two' is not a whole number;"
    )
    [problem] = disruption_problems(plan(deployment(), pdb(selector={"matchLabels": ["app"]})))
    assert problem.startswith(
        "resource demo-pdb: PodDisruptionBudget demo/demo: spec.selector.matchLabels: ['app'] is "
        "not a map;"
    )
