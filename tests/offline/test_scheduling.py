"""Scheduling and capacity: the shipped stacks place everything they run, roll every Deployment
and drain every node; each way of breaking that is reported naming the workload and the rule."""

from __future__ import annotations

import copy
from collections import Counter
from functools import lru_cache
from typing import Any

import pytest
import yaml

from offline.validators import gitops
from offline.validators.checks import run_checks
from offline.validators.disruption.rule import WHY
from offline.validators.scheduling import Report, evaluate, plan_nodes, table
from tests.conftest import STACKS, document, stack_values, structured, with_key

K8S = "v1.36.2"
CP_TAINT_FIX = (
    "add worker nodes, or let the control planes run workloads "
    "(cluster.allowSchedulingOnControlPlanes, which the program sets when the stack has no "
    "worker)"
)


@lru_cache(maxsize=3)
def _rendered(env: str) -> dict[str, list[gitops.RenderedObject]]:
    return gitops._render_environment(env)


def check(doc: dict[str, Any], env: str) -> Report:
    return evaluate(doc, K8S, rendered=_rendered(env))


def placed(report: Report) -> Counter[str]:
    """Pods placed per `<kind> <ns>/<name>`."""
    assert report.cluster is not None
    return Counter(p.workload.ref for p in report.cluster.all_pods())


def on(report: Report, node: str) -> set[str]:
    assert report.cluster is not None
    return {p.workload.ref for p in report.cluster.pods[node]}


def cloudflared(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["resources"] if r["name"] == "cloudflared-deployment")["inputs"]


def without_workers(doc: dict[str, Any]) -> dict[str, Any]:
    """The plan with only its control planes, tainted (no allowSchedulingOnControlPlanes)."""
    doc = copy.deepcopy(doc)
    for call in doc["invokes"]:
        patches = call["args"].get("configPatches") or []
        for index, text in enumerate(patches):
            patch = yaml.safe_load(text)
            if isinstance(patch, dict) and "cluster" in patch:
                patch["cluster"].pop("allowSchedulingOnControlPlanes", None)
                patches[index] = yaml.safe_dump(patch)
    return doc


# --- The shipped stacks ------------------------------------------------------------------------

PODINFO = {"dev": 1, "staging": 2, "prod": 3}  # the HorizontalPodAutoscalers' minReplicas


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_place_roll_and_drain(stack: str) -> None:
    report = check(document(stack), stack)
    assert report.problems == []
    assert report.notes == []
    assert report.failures == []
    pods = placed(report)
    nodes = [n.name for n in report.nodes]
    assert pods["Deployment cloudflared/cloudflared"] == 2
    assert pods["Deployment podinfo/frontend"] == PODINFO[stack]
    assert pods["Deployment podinfo/backend"] == PODINFO[stack]
    assert pods["Deployment argocd/argocd-server"] == (2 if stack == "prod" else 1)
    assert pods["StatefulSet argocd/argocd-application-controller"] == 1
    assert pods["DaemonSet kube-system/cilium"] == len(nodes)
    assert pods["DaemonSet kube-system/cilium-envoy"] == len(nodes)
    assert pods["Deployment kube-system/cilium-operator"] == 2
    assert "DaemonSet kube-system/kube-flannel" not in pods  # Talos runs no CNI of its own
    assert pods["Deployment kube-system/coredns"] == 2
    if stack == "prod":
        assert pods["StatefulSet argocd/argocd-redis-ha-server"] == 3
        assert pods["Deployment argocd/argocd-redis-ha-haproxy"] == 3
    for node in report.nodes:
        if node.role == "controlplane":
            assert "Pod kube-system/kube-apiserver-" + node.name in on(report, node.name)
    tainted = [n for n in report.nodes if n.taints]
    assert report.cluster is not None
    # Only Talos's own pods, the CNI, the CSI controller (which holds the Proxmox token: it
    # runs on the control planes, gitops/platform), node-exporter (it reports on every node,
    # docs/monitoring.md) and kubelet-csr-approver (the chart's toleration) tolerate the
    # control-plane taint.
    for node in tainted:
        sources = {p.workload.source for p in report.cluster.pods[node.name]}
        assert (
            {"talos", "release cilium"}
            <= sources
            <= {
                "talos",
                "release cilium",
                "upstream/charts/proxmox-csi-plugin/templates/controller-deployment.yaml",
                "upstream/charts/kube-prometheus-stack/charts/prometheus-node-exporter/"
                "templates/daemonset.yaml",
                "upstream/charts/kubelet-csr-approver/templates/deployment.yaml",
            }
        )
    assert bool(tainted) is (stack != "staging")


def test_prod_nodes_and_allocatable() -> None:
    nodes, notes = plan_nodes(document("prod"))
    assert notes == []
    by_name = {n.name: n for n in nodes}
    worker, control_plane = by_name["prod-worker-1"], by_name["prod-cp-1"]
    assert worker.labels["topology.kubernetes.io/zone"] == "pve1"
    assert worker.labels["kubernetes.io/hostname"] == "prod-worker-1"
    assert worker.taints == ()
    assert [str(t) for t in control_plane.taints] == [
        "node-role.kubernetes.io/control-plane:NoSchedule"
    ]
    # 8 cores less 50m; 16384Mi less 384Mi (worker systemReserved) and 100Mi (evictionHard).
    assert (worker.cpu_allocatable, worker.memory_allocatable >> 20) == (7950, 15900)
    # 4 cores less 50m; 8192Mi less 512Mi (control-plane systemReserved) and 100Mi.
    assert (control_plane.cpu_allocatable, control_plane.memory_allocatable >> 20) == (3950, 7580)


def test_node_table_prints_requested_against_allocatable() -> None:
    text = table(check(document("dev"), "dev"))
    lines = text.splitlines()
    assert lines[0].split() == [
        "node",
        "role",
        "cpu",
        "requested/allocatable",
        "memory",
        "requested/allocatable",
        "pods",
    ]
    # dev-cp-1: the static pods (260m, 832Mi), the Cilium agent and Envoy DaemonSets
    # (100m + 25m, 256Mi + 64Mi), one Cilium operator (25m, 128Mi), CoreDNS (100m, 70Mi), the
    # Proxmox CSI controller (5 containers of 10m, 16Mi), node-exporter (10m, 32Mi) and
    # kubelet-csr-approver (10m, 32Mi), which tolerate the control-plane taint.
    assert lines[1].split()[:3] == ["dev-cp-1", "controlplane", "580m/1950m"]
    assert lines[1].split()[4] == "1494Mi/3484Mi"
    assert lines[2].split()[:2] == ["dev-worker-1", "worker"]
    assert "allocatable: the VM's cores and memory less Talos's systemReserved" in text


def test_every_node_of_the_shipped_stacks_can_be_drained() -> None:
    """dev runs its workloads on one worker: no budget there (cloudflared.py), so its drain
    evicts every pod and the upgrade goes on; the pods wait Pending until it is back."""
    for stack in ("dev", "staging", "prod"):
        report = check(document(stack), stack)
        assert not [w for w in report.warnings + report.problems if "PodDisruptionBudget" in w]


# --- Broken stacks -----------------------------------------------------------------------------


def test_tainted_control_planes_without_workers_place_nothing() -> None:
    values, _ = stack_values("prod")
    control_planes = [n for n in structured(values, "nodes") if n["role"] == "controlplane"]
    doc = without_workers(document("prod", with_key(values, "nodes", control_planes)))
    report = check(doc, "prod")
    assert (
        "resource cloudflared-deployment Deployment cloudflared/cloudflared: 2 of 2 pods cannot "
        "be placed: taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated "
        f"(prod-cp-1, prod-cp-2, prod-cp-3); fix: {CP_TAINT_FIX}"
    ) in report.problems
    failed = {f.workload.ref for f in report.failures}
    assert {"Deployment podinfo/frontend", "StatefulSet argocd/argocd-redis-ha-server"} <= failed
    assert "Deployment kube-system/coredns" not in failed  # it tolerates the taint


def test_the_check_runs_with_the_plan_checks() -> None:
    container = {"name": "big", "image": "big:1", "resources": {"requests": {"cpu": "3"}}}
    labels = {"app": "big"}
    doc = {
        "resources": [
            {
                "type": "proxmoxve:index/vmLegacy:VmLegacy",
                "name": "n1",
                "inputs": {"name": "n1", "cpu": {"cores": 2}, "memory": {"dedicated": 2048}},
            },
            {
                "type": "kubernetes:apps/v1:Deployment",
                "name": "big",
                "inputs": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "big", "namespace": "demo"},
                    "spec": {
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [container]},
                        },
                    },
                },
            },
        ],
        "invokes": [
            {
                "token": "talos:machine/getConfiguration:getConfiguration",
                "args": {
                    "machineType": "worker",
                    "configPatches": ["apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: n1\n"],
                },
            }
        ],
    }
    # n1: 2 cores less 50m reserved, less both CoreDNS pods (2 x 100m); no Talos CNI.
    assert (
        "resource big Deployment demo/big: 1 of 1 pods cannot be placed: insufficient cpu (n1: "
        "requests 3000m, 1750m free of 1950m allocatable); fix: lower the requests, or give the "
        "nodes more cores (talos-platform:nodes cores), or add nodes"
    ) in run_checks(doc, K8S).problems


def test_spread_counting_tainted_nodes_cannot_be_met() -> None:
    doc = copy.deepcopy(document("prod"))
    spec = cloudflared(doc)["spec"]
    spec["replicas"] = 4
    spec["template"]["spec"]["topologySpreadConstraints"][0]["nodeTaintsPolicy"] = "Ignore"
    report = check(doc, "prod")
    skew = "skew 2: 1 there, 0 on prod-cp-1"
    assert report.problems == [
        "resource cloudflared-deployment Deployment cloudflared/cloudflared: 1 of 4 pods cannot "
        "be placed: topologySpreadConstraints[0] maxSkew 1 on kubernetes.io/hostname "
        "(whenUnsatisfiable DoNotSchedule, nodeTaintsPolicy Ignore, nodeAffinityPolicy Honor) "
        f"(prod-worker-1: {skew}, prod-worker-2: {skew}, prod-worker-3: {skew}); fix: set "
        "nodeTaintsPolicy: Honor (tainted prod-cp-1, prod-cp-2, prod-cp-3 count as domains no "
        "pod can reach), or add nodes in more kubernetes.io/hostname domains, run fewer "
        "replicas, or set ScheduleAnyway"
    ]
    spec["template"]["spec"]["topologySpreadConstraints"][0]["nodeTaintsPolicy"] = "Honor"
    assert check(doc, "prod").problems == []


def test_requests_larger_than_the_nodes() -> None:
    # More than the worker's allocatable (dev's 4 GiB nodes leave no room for 2 GiB nodes to
    # run the rest since the monitoring stack: docs/monitoring.md).
    doc = copy.deepcopy(document("dev"))
    container = cloudflared(doc)["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["requests"]["memory"] = "4Gi"
    container["resources"]["limits"]["memory"] = "4Gi"
    report = check(doc, "dev")
    assert report.problems == [
        "resource cloudflared-deployment Deployment cloudflared/cloudflared: 2 of 2 pods cannot "
        "be placed: insufficient memory (dev-worker-1: requests 4096Mi, 3132Mi free of 3612Mi "
        "allocatable); fix: lower the requests, or give the nodes more memory "
        "(talos-platform:nodes memory_mb), or add nodes"
    ]


def test_a_surge_pod_that_cannot_fit_stalls_the_rollout() -> None:
    doc = copy.deepcopy(document("staging"))
    spec = cloudflared(doc)["spec"]
    spec["replicas"] = 3
    spec["template"]["spec"]["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "cloudflared"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    report = check(doc, "staging")
    runs = "Deployment cloudflared/cloudflared runs on"
    assert report.problems == [
        "resource cloudflared-deployment Deployment cloudflared/cloudflared: the surge pod of a "
        "rolling update (maxSurge 1, maxUnavailable 0) cannot be placed: required pod "
        "anti-affinity on kubernetes.io/hostname (staging-cp-1: "
        f"{runs} staging-cp-1, staging-cp-2: {runs} staging-cp-2, staging-cp-3: {runs} "
        "staging-cp-3); the rollout stalls; fix: add nodes in more kubernetes.io/hostname "
        "domains, or run fewer replicas; or set maxSurge: 0 and maxUnavailable: 1"
    ]
    spec["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": 1}
    assert check(doc, "staging").problems == []


def test_a_drain_the_budget_blocks_forever() -> None:
    doc = copy.deepcopy(document("staging"))
    pod_spec = cloudflared(doc)["spec"]["template"]["spec"]
    pod_spec["nodeSelector"] = {"kubernetes.io/hostname": "staging-cp-1"}
    report = check(doc, "staging")
    assert report.problems == [
        "resource cloudflared-deployment Deployment cloudflared/cloudflared: draining "
        "staging-cp-1, 2 of 2 pods cannot be placed elsewhere: nodeSelector "
        "kubernetes.io/hostname=staging-cp-1 (staging-cp-2, staging-cp-3); PodDisruptionBudget "
        "cloudflared/cloudflared (resource cloudflared-pdb, minAvailable: 1) allows 1 "
        f"disruption of its 2 pods, so the drain never completes: {WHY}; fix: label a node "
        "so, or change the nodeSelector; or let the budget allow 2 (maxUnavailable: 2)"
    ]


# --- Drains and zone-local volumes -----------------------------------------------------------


def redis_node(report: Report) -> str:
    assert report.cluster is not None
    [node] = [
        report.cluster.node_of[p]
        for p in report.cluster.all_pods()
        if p.workload.ref == "StatefulSet podinfo/redis"
    ]
    return node


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_draining_the_redis_node_leaves_it_pending_on_its_proxmox_disk(stack: str) -> None:
    """The Redis volume is a disk on its node's Proxmox host: no other node of that host takes
    the pod (staging's other control planes and prod's other workers are on other hosts)."""
    report = check(document(stack), stack)
    node = redis_node(report)
    zone = next(n for n in report.nodes if n.name == node).labels["topology.kubernetes.io/zone"]
    pinned = [
        w
        for w in report.warnings
        if "volume node affinity conflict" in w and "StatefulSet podinfo/redis" in w
    ]
    assert pinned == [
        f"draining {node}: StatefulSet podinfo/redis waits Pending until it is back: its volume "
        f"data-redis-0 (StorageClass proxmox-talos-{stack}-vm, csi.proxmox.sinextra.dev) is a disk "
        f"in zone {zone} (its Proxmox host), and no other schedulable node in zone {zone} takes "
        'the pod ("node(s) had volume node affinity conflict" on the others); another node on '
        "that host would"
    ]
    assert not [w for w in report.warnings if "wait Pending" in w and "podinfo/redis" in w]
    assert report.problems == []


def test_dev_redis_has_no_other_node_at_all() -> None:
    """dev's only other node is its tainted control plane: the generic drain note names Redis."""
    report = check(document("dev"), "dev")
    assert not [w for w in report.warnings if "volume node affinity conflict" in w]
    assert any("dev-worker-1" in w and "StatefulSet podinfo/redis" in w for w in report.warnings)


def _zone_cluster(*zones: str) -> Any:
    """Workers w1.. in `zones` and a one-replica StatefulSet demo/db placed on w1."""
    from offline.validators.disruption.objects import Placed
    from offline.validators.scheduling import Cluster, Node, workloads_of
    from offline.validators.scheduling.workloads import new_pod

    nodes = [
        Node(f"w{i}", "worker", {"topology.kubernetes.io/zone": zone}, (), 2000, 4 << 30)
        for i, zone in enumerate(zones, 1)
    ]
    labels = {"app": "db"}
    manifest = {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "demo"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
        },
    }
    [workload] = workloads_of([Placed(manifest, "demo", "db.yaml")])
    cluster = Cluster(nodes)
    cluster.bind(new_pod(workload), "w1")
    return cluster


def test_a_pinned_pod_moves_within_its_zone_only() -> None:
    from offline.validators.scheduling.drain import Budget, drain_findings

    pinned = {("StatefulSet", "demo", "db"): ["data-db-0 (StorageClass local, x)"]}
    # w2 is on the same host: the pod moves there.
    assert drain_findings(_zone_cluster("pve1", "pve1", "pve2"), [], pinned) == ([], [])
    # Only another host's node: it waits for w1.
    cluster = _zone_cluster("pve1", "pve2")
    problems, warnings = drain_findings(cluster, [], pinned)
    assert problems == []
    assert [w.split(": ")[:2] for w in warnings] == [
        ["draining w1", "StatefulSet demo/db waits Pending until it is back"]
    ]
    assert "its volume data-db-0 (StorageClass local, x) is a disk in zone pve1" in warnings[0]
    # Without the volume it would simply move to w2.
    assert drain_findings(cluster, []) == ([], [])
    # A budget that allows no disruption then blocks the drain, naming the volume's rule.
    budget = Budget(
        "db.yaml",
        "demo",
        "db",
        {"matchLabels": {"app": "db"}},
        "minAvailable",
        1,
        "minAvailable: 1",
    )
    [problem], _ = drain_findings(cluster, [budget], pinned)
    assert problem.startswith(
        "db.yaml StatefulSet demo/db: draining w1, 1 of 1 pods cannot be placed elsewhere: "
        "volume node affinity conflict (w2: zone pve2); PodDisruptionBudget demo/db"
    )


# --- Malformed workloads -----------------------------------------------------------------------


def _small_plan(*deployments: dict[str, Any]) -> dict[str, Any]:
    """One 4-core worker n1 and the given Deployments (plan resources, namespace demo)."""
    resources: list[dict[str, Any]] = [
        {
            "type": "proxmoxve:index/vmLegacy:VmLegacy",
            "name": "n1",
            "inputs": {"name": "n1", "cpu": {"cores": 4}, "memory": {"dedicated": 8192}},
        }
    ]
    for manifest in deployments:
        name = manifest["metadata"]["name"]
        resources.append(
            {"type": "kubernetes:apps/v1:Deployment", "name": name, "inputs": manifest}
        )
    patch = "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: n1\n"
    invoke = {
        "token": "talos:machine/getConfiguration:getConfiguration",
        "args": {"machineType": "worker", "configPatches": [patch]},
    }
    return {"resources": resources, "invokes": [invoke]}


def _deployment(name: str, **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": name, "image": f"{name}:1", "resources": {"requests": {"cpu": "100m"}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], **pod_spec},
            },
        },
    }


def _spread(**constraint: Any) -> list[dict[str, Any]]:
    base = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "bad"}},
    }
    return [{**base, **constraint}]


POD = "spec.template.spec"
MALFORMED = [
    ("spec.replicas", "two", "spec.replicas: 'two' is not a whole number"),
    (f"{POD}.tolerations", "x", f"{POD}.tolerations: 'x' is not a list"),
    (f"{POD}.nodeSelector", ["a"], f"{POD}.nodeSelector: ['a'] is not a map"),
    (f"{POD}.containers", {"name": "c"}, f"{POD}.containers: {{'name': 'c'}} is not a list"),
    (
        f"{POD}.containers.0.resources.requests.cpu",
        "lots",
        f"{POD}.containers[0].resources.requests.cpu: 'lots' is not a quantity",
    ),
    (
        f"{POD}.topologySpreadConstraints",
        _spread(maxSkew="one"),
        f"{POD}.topologySpreadConstraints[0].maxSkew: 'one' is not a whole number",
    ),
    (
        f"{POD}.topologySpreadConstraints",
        _spread(minDomains="two"),
        f"{POD}.topologySpreadConstraints[0].minDomains: 'two' is not a whole number",
    ),
    (
        f"{POD}.affinity",
        {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "x"}},
        f"{POD}.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: 'x' "
        "is not a list",
    ),
    (
        "spec.strategy",
        {"rollingUpdate": {"maxSurge": "abc"}},
        "spec.strategy.rollingUpdate.maxSurge: 'abc' is not a whole number or a percentage",
    ),
]


def _set(manifest: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target: Any = manifest
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = value
    return manifest


@pytest.mark.parametrize(("path", "value", "message"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_a_malformed_workload_is_reported_and_the_others_still_placed(
    path: str, value: Any, message: str
) -> None:
    bad = _set(_deployment("bad"), path, copy.deepcopy(value))
    doc = _small_plan(_deployment("good"), bad, _deployment("other"))
    report = evaluate(doc, K8S, rendered={}, releases={})
    assert report.problems == [
        f"scheduling not checked for resource bad Deployment demo/bad: {message}"
    ]
    pods = placed(report)
    assert pods["Deployment demo/good"] == 1
    assert pods["Deployment demo/other"] == 1
    assert "Deployment demo/bad" not in pods
    result = run_checks(doc, K8S)
    assert "Scheduling 3 workloads on 1 nodes" in result.ran  # good, other and CoreDNS
    assert report.problems[0] in result.problems


def test_a_malformed_helm_rendered_workload_is_reported() -> None:
    # As the argo-cd chart renders `server.replicas: "two"` and `server.tolerations: "x"`.
    server = _set(_deployment("argocd-server"), "spec.replicas", "two")
    repo = _set(_deployment("argocd-repo-server"), f"{POD}.tolerations", "x")
    doc = _small_plan(_deployment("good"))
    releases = {"argocd": [server, repo, _deployment("argocd-redis")]}
    report = evaluate(doc, K8S, rendered={}, releases=releases)
    assert report.problems == [
        "scheduling not checked for release argocd Deployment demo/argocd-server: "
        "spec.replicas: 'two' is not a whole number",
        "scheduling not checked for release argocd Deployment demo/argocd-repo-server: "
        f"{POD}.tolerations: 'x' is not a list",
    ]
    pods = placed(report)
    assert pods["Deployment demo/good"] == 1
    assert pods["Deployment demo/argocd-redis"] == 1


def test_a_malformed_budget_selector_leaves_the_drain_check_to_the_others() -> None:
    doc = _small_plan(_deployment("good"))
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "good", "namespace": "demo"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": ["app"]}},
    }
    doc["resources"].append(
        {"type": "kubernetes:policy/v1:PodDisruptionBudget", "name": "pdb", "inputs": budget}
    )
    report = evaluate(doc, K8S, rendered={}, releases={})
    assert report.problems == []
    assert placed(report)["Deployment demo/good"] == 1


def test_rollout_resolve_names_the_field() -> None:
    from offline.validators.scheduling.rollout import resolve

    assert resolve("25%", 4, round_up=True) == 1
    with pytest.raises(ValueError, match=r"maxSurge: 'abc' is not a whole number"):
        resolve("abc", 4, round_up=True, at="maxSurge")
