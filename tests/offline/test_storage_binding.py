"""Every PersistentVolumeClaim a stack makes binds: the shipped stacks' Redis claim through the
one default StorageClass of the Proxmox CSI plugin, on a node that the class's topology admits
and that runs the plugin's node plugin, and each way a claim stays Pending or never mounts
reported with the claim, where it comes from and what to fix."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import pytest

from offline.validators import checks, gitops, helm_render, scheduling, storage, storage_nodes
from offline.validators.checks import run_checks
from offline.validators.cluster_objects import find, of_kind
from offline.validators.disruption.objects import Placed
from offline.validators.scheduling import Node, Taint
from offline.validators.scheduling.sources import stack_objects
from tests.conftest import STACKS, document

K8S = "v1.36.2"
PROXMOX = "csi.proxmox.sinextra.dev"
UNSET = object()
REGION, ZONE = "topology.kubernetes.io/region", "topology.kubernetes.io/zone"
CP_TAINT = Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
#: The node selector of the chart's values.talos.yaml, a label only the Talos CCM sets.
NOCLOUD = {"node.cloudprovider.kubernetes.io/platform": "nocloud"}


# --- Synthetic objects ------------------------------------------------------------------------


def storage_class(
    name: str, provisioner: str = PROXMOX, default: str | None = None, beta: bool = False
) -> Placed:
    metadata: dict[str, Any] = {"name": name}
    if default is not None:
        key = storage.DEFAULT_CLASS_ANNOTATIONS[1 if beta else 0]
        metadata["annotations"] = {key: default}
    manifest = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata,
        "provisioner": provisioner,
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    return Placed(manifest, "default", "platform.yaml")


def csi_driver(name: str = PROXMOX) -> Placed:
    manifest = {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": name}}
    return Placed(manifest, "default", "platform.yaml")


def claim(
    name: str = "data",
    class_name: Any = UNSET,
    modes: list[str] | None = None,
    beta_class: str | None = None,
) -> Placed:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"] if modes is None else modes,
        "resources": {"requests": {"storage": "1Gi"}},
    }
    if class_name is not UNSET:
        spec["storageClassName"] = class_name
    metadata: dict[str, Any] = {"name": name, "namespace": "app"}
    if beta_class is not None:
        metadata["annotations"] = {storage.BETA_CLAIM_CLASS_ANNOTATION: beta_class}
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": spec,
    }
    return Placed(manifest, "app", "app/claim.yaml")


def stateful_set(modes: list[str] | None = None) -> Placed:
    template = {
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": modes or ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "redis", "namespace": "app"},
        "spec": {
            "serviceName": "redis",
            "selector": {"matchLabels": {"app": "redis"}},
            "template": {"metadata": {"labels": {"app": "redis"}}, "spec": {"containers": []}},
            "volumeClaimTemplates": [template],
        },
    }
    return Placed(manifest, "app", "app/redis.yaml")


def platform(*extra: Placed) -> list[Placed]:
    """One default Proxmox class and its CSIDriver, plus `extra`."""
    return [storage_class("proxmox", default="true"), csi_driver(), *extra]


def node(name: str, zone: str = "pve1", *taints: Taint) -> Node:
    labels = {"kubernetes.io/hostname": name, REGION: "homelab", ZONE: zone}
    role = "controlplane" if taints else "worker"
    return Node(name, role, labels, taints, 2000, 4 << 30)


NODES = [node("cp-1", "pve1", CP_TAINT), node("worker-1", "pve1"), node("worker-2", "pve2")]


def node_plugin(driver: str = PROXMOX, where: str = "platform.yaml", **pod: Any) -> Placed:
    """The driver's node plugin: a DaemonSet whose registrar registers `driver`'s socket."""
    registrar = {
        "name": "csi-node-driver-registrar",
        "image": "registrar:1",
        "args": [
            "--csi-address=unix:///csi/csi.sock",
            f"--kubelet-registration-path=/var/lib/kubelet/plugins/{driver}/csi.sock",
        ],
    }
    labels = {"app": "csi-node"}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "csi-node", "namespace": "csi"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "plugin", "image": "p:1"}, registrar], **pod},
            },
        },
    }
    return Placed(manifest, "csi", where)


def with_topology(placed: Placed, *zones: str) -> Placed:
    manifest = copy.deepcopy(placed.manifest)
    manifest["allowedTopologies"] = [
        {
            "matchLabelExpressions": [
                {"key": REGION, "values": ["homelab"]},
                {"key": ZONE, "values": list(zones)},
            ]
        }
    ]
    return Placed(manifest, placed.namespace, placed.where)


def on_nodes(*objects: Placed, nodes: list[Node] | None = None) -> list[str]:
    return storage.evaluate(list(objects), NODES if nodes is None else nodes).problems


# --- Which class a claim gets -----------------------------------------------------------------


def test_a_claim_without_class_binds_through_the_one_default() -> None:
    findings = storage.evaluate(platform(claim()))
    assert (findings.problems, findings.notes, findings.checked) == ([], [], 1)


def test_no_default_class_leaves_the_claim_pending() -> None:
    objects = [storage_class("proxmox"), csi_driver(), claim()]
    [problem] = storage.evaluate(objects).problems
    assert problem.startswith("app/claim.yaml: PersistentVolumeClaim app/data: ")
    assert "no default StorageClass: the claim stays Pending" in problem
    assert storage.DEFAULT_CLASS_ANNOTATION in problem
    assert "(StorageClasses: proxmox)" in problem


def test_no_storage_class_at_all_is_named() -> None:
    [problem] = storage.evaluate([claim()]).problems
    assert "no default StorageClass" in problem
    assert "(StorageClasses: none)" in problem


def test_two_default_classes_make_the_choice_depend_on_creation_order() -> None:
    objects = platform(storage_class("fast", default="true"), claim())
    [problem] = storage.evaluate(objects).problems
    assert "2 StorageClasses are default (fast, proxmox)" in problem
    assert "newest (by creationTimestamp, then by name)" in problem
    assert "exactly one" in problem


def test_the_beta_annotation_also_marks_a_default() -> None:
    objects = [storage_class("proxmox", default="true", beta=True), csi_driver(), claim()]
    assert storage.evaluate(objects).problems == []


def test_only_the_value_true_marks_a_default() -> None:
    objects = [storage_class("proxmox", default="True"), csi_driver(), claim()]
    [problem] = storage.evaluate(objects).problems
    assert "no default StorageClass" in problem


def test_a_named_class_must_exist() -> None:
    [problem] = storage.evaluate(platform(claim(class_name="fast"))).problems
    assert "names StorageClass 'fast', which the stack does not create" in problem
    assert "use one of the StorageClasses (proxmox)" in problem


def test_a_named_class_that_is_not_the_default_binds() -> None:
    objects = platform(storage_class("slow"), claim(class_name="slow"))
    assert storage.evaluate(objects).problems == []


def test_the_beta_claim_annotation_wins_over_storage_class_name() -> None:
    objects = platform(claim(class_name="proxmox", beta_class="missing"))
    [problem] = storage.evaluate(objects).problems
    assert "names StorageClass 'missing'" in problem


def test_an_empty_class_name_is_static_binding_a_note() -> None:
    findings = storage.evaluate([claim(class_name="")])
    assert findings.problems == []
    [note] = findings.notes
    assert "pre-created PersistentVolume without class (static binding)" in note


# --- The class's provisioner and the claim's access modes ------------------------------------


@pytest.mark.parametrize("provisioner", [PROXMOX, "nfs.csi.k8s.io", "rancher.io/local-path"])
def test_an_external_provisioner_without_csidriver_is_not_installed(provisioner: str) -> None:
    findings = storage.evaluate([storage_class("proxmox", provisioner, default="true"), claim()])
    [problem] = findings.problems
    assert f"no CSIDriver {provisioner} among the stack's objects" in problem
    assert "nothing provisions the claim and it stays Pending" in problem
    assert ("a CSI driver this check knows" in problem) is (provisioner == PROXMOX)
    assert findings.notes == []


def test_an_in_tree_provisioner_without_csidriver_is_unknown() -> None:
    objects = [storage_class("ebs", "kubernetes.io/aws-ebs", default="true"), claim()]
    findings = storage.evaluate(objects)
    assert findings.problems == []
    [note, _modes] = findings.notes
    assert "no CSIDriver kubernetes.io/aws-ebs among the stack's objects" in note
    assert "unknown" in note


def test_no_provisioner_binds_only_to_existing_volumes() -> None:
    objects = [storage_class("local", storage.NO_PROVISIONER, default="true"), claim()]
    [note] = storage.evaluate(objects).notes
    assert "provisions nothing" in note


def test_a_driver_without_access_mode_table_is_not_checked() -> None:
    objects = [storage_class("nfs", "nfs.csi.k8s.io", default="true"), csi_driver("nfs.csi.k8s.io")]
    [note] = storage.evaluate([*objects, claim(modes=["ReadWriteMany"])]).notes
    assert "access modes not checked" in note


@pytest.mark.parametrize("mode", ["ReadWriteMany", "ReadOnlyMany"])
def test_proxmox_serves_no_multi_node_mode(mode: str) -> None:
    [problem] = storage.evaluate(platform(claim(modes=[mode]))).problems
    assert (
        "serves only ReadWriteOnce, ReadWriteOncePod (sergelogvinov/proxmox-csi-plugin" in problem
    )
    assert f"not {mode}: the volume would never mount" in problem
    assert "pkg/csi/node.go" in problem


def test_proxmox_serves_read_write_once_pod() -> None:
    assert storage.evaluate(platform(claim(modes=["ReadWriteOncePod"]))).problems == []


def test_a_claim_without_access_modes_is_refused() -> None:
    [problem] = storage.evaluate(platform(claim(modes=[]))).problems
    assert "at least 1 access mode is required" in problem


def test_read_write_once_pod_cannot_be_combined() -> None:
    [problem] = storage.evaluate(
        platform(claim(modes=["ReadWriteOncePod", "ReadWriteOnce"]))
    ).problems
    assert "combines ReadWriteOncePod with other modes" in problem


# --- Claims a workload makes ------------------------------------------------------------------


def test_a_statefulset_claim_template_is_a_claim_named_after_its_first_pod() -> None:
    [problem] = storage.evaluate([stateful_set(["ReadWriteMany"]), *platform()]).problems
    assert problem.startswith(
        "app/redis.yaml: PersistentVolumeClaim app/data-redis-0 "
        "(from StatefulSet app/redis volumeClaimTemplates[0]): "
    )
    assert storage.evaluate([stateful_set(), *platform()]).problems == []


def test_a_generic_ephemeral_volume_is_a_claim() -> None:
    pod_spec = {
        "containers": [],
        "volumes": [
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": []}}}}
        ],
    }
    manifest = {
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {}}, "spec": pod_spec}},
    }
    findings = storage.evaluate([Placed(manifest, "app", "web.yaml"), *platform()])
    assert findings.checked == 1
    [problem] = findings.problems
    assert "PersistentVolumeClaim app/<pod>-scratch (from Deployment app/web volumes[0]" in problem


# --- Where the claim's pod can run ------------------------------------------------------------


def test_a_claim_with_a_node_plugin_where_its_pod_runs_passes() -> None:
    objects = platform(stateful_set(), node_plugin())
    assert on_nodes(*objects) == []
    # Without nodes (as before the plan passed them) only the class and modes are checked.
    assert storage.evaluate([*platform(stateful_set())]).problems == []


def test_a_node_plugin_that_runs_on_no_node_of_the_pod(  # the Talos values' selector
) -> None:
    [problem] = on_nodes(*platform(stateful_set(), node_plugin(nodeSelector=NOCLOUD)))
    assert problem.startswith(
        "app/redis.yaml: PersistentVolumeClaim app/data-redis-0 (from StatefulSet app/redis "
        f"volumeClaimTemplates[0]): StorageClass proxmox (provisioner {PROXMOX}): the driver's "
        "node plugin, DaemonSet csi/csi-node (platform.yaml), runs on none of the nodes its pod "
        "(StatefulSet app/redis) can run on and the class admits (worker-1, worker-2): "
        "nodeSelector node.cloudprovider.kubernetes.io/platform=nocloud (worker-1, worker-2); "
    )
    assert f'"driver name {PROXMOX} not found in the list of registered CSI drivers"' in problem
    assert problem.endswith("(its nodeSelector, affinity, tolerations)")


def test_the_node_plugin_must_run_where_the_pod_can() -> None:
    """The plugin only on the control plane, which the pod does not tolerate."""
    only_cp = node_plugin(
        nodeSelector={"kubernetes.io/hostname": "cp-1"}, tolerations=[{"operator": "Exists"}]
    )
    [problem] = on_nodes(*platform(stateful_set(), only_cp))
    assert "nodeSelector kubernetes.io/hostname=cp-1 (worker-1, worker-2)" in problem
    # A pod that tolerates the taint can run on cp-1: it has the plugin.
    tolerant = stateful_set()
    pod_spec = tolerant.manifest["spec"]["template"]["spec"]
    pod_spec["tolerations"] = [{"operator": "Exists"}]
    assert on_nodes(*platform(tolerant, only_cp)) == []


def test_no_node_plugin_at_all() -> None:
    [problem] = on_nodes(*platform(stateful_set()))
    assert "no DaemonSet among the stack's objects runs the node plugin of " + PROXMOX in problem
    assert "--kubelet-registration-path=.../csi.proxmox.sinextra.dev/csi.sock" in problem
    # Another driver's node plugin does not count, even beside the CSIDriver.
    nfs = node_plugin("nfs.csi.k8s.io", where="nfs.yaml")
    assert on_nodes(*platform(stateful_set(), nfs)) == [problem]
    nfs_here = node_plugin("nfs.csi.k8s.io")
    assert on_nodes(*platform(stateful_set(), nfs_here, csi_driver("nfs.csi.k8s.io"))) == [problem]


def test_a_registrar_beside_the_csidriver_is_its_node_plugin() -> None:
    """Fallback: a registrar whose path does not name the driver, from the chart that creates
    the driver's CSIDriver."""
    plugin = node_plugin("socket-dir", where="upstream/charts/x/templates/node.yaml")
    driver = Placed(csi_driver().manifest, "csi", "upstream/charts/x/templates/csidriver.yaml")
    objects = [storage_class("proxmox", default="true"), driver, stateful_set()]
    assert on_nodes(*objects, plugin) == []
    elsewhere = node_plugin("socket-dir", where="upstream/charts/y/templates/node.yaml")
    [problem] = on_nodes(*objects, elsewhere)
    assert "no DaemonSet among the stack's objects runs the node plugin" in problem


def test_allowed_topologies_must_admit_a_node_of_the_pod() -> None:
    objects = [with_topology(storage_class("proxmox", default="true"), "pve9"), csi_driver()]
    [problem] = on_nodes(*objects, stateful_set(), node_plugin())
    assert (
        "StorageClass proxmox (provisioner csi.proxmox.sinextra.dev): allowedTopologies "
        "(topology.kubernetes.io/region in [homelab] and topology.kubernetes.io/zone in [pve9]) "
        "admit none of the nodes its pod (StatefulSet app/redis) can run on (worker-1: "
        "topology.kubernetes.io/region=homelab, topology.kubernetes.io/zone=pve1, worker-2: "
        "topology.kubernetes.io/region=homelab, topology.kubernetes.io/zone=pve2)"
    ) in problem
    assert "node(s) didn't find available persistent volumes to bind" in problem
    objects[0] = with_topology(objects[0], "pve2")
    assert on_nodes(*objects, stateful_set(), node_plugin()) == []


def test_the_plugin_must_run_on_a_node_the_topology_admits() -> None:
    """worker-1 has the plugin but the class only admits pve2, whose worker lacks it."""
    objects = [with_topology(storage_class("proxmox", default="true"), "pve2"), csi_driver()]
    plugin = node_plugin(nodeSelector={"kubernetes.io/hostname": "worker-1"})
    [problem] = on_nodes(*objects, stateful_set(), plugin)
    assert "the class admits (worker-2): nodeSelector kubernetes.io/hostname=worker-1" in problem


def test_a_standalone_claim_is_checked_for_the_pods_that_mount_it() -> None:
    pod_spec = {
        "containers": [{"name": "web", "image": "web:1"}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "nodeSelector": {"kubernetes.io/hostname": "worker-2"},
    }
    manifest = {
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}},
    }
    web = Placed(manifest, "app", "web.yaml")
    plugin = node_plugin(nodeSelector={"kubernetes.io/hostname": "worker-1"})
    [problem] = on_nodes(*platform(claim(), web, plugin))
    assert problem.startswith("app/claim.yaml: PersistentVolumeClaim app/data: ")
    assert "its pod (Deployment app/web) can run on and the class admits (worker-2)" in problem
    # A claim no pod mounts waits for one (WaitForFirstConsumer): nothing to place.
    assert on_nodes(*platform(claim(), plugin)) == []
    [mounted] = storage.claims_of([claim(), web])
    assert [u.where for u in mounted.users] == ["web.yaml"]


def test_a_pod_no_node_takes_is_left_to_the_scheduling_check() -> None:
    tainted = [node("cp-1", "pve1", CP_TAINT)]
    assert on_nodes(*platform(stateful_set()), nodes=tainted) == []


def test_topology_terms_are_ored_and_their_expressions_anded() -> None:
    labels = {REGION: "homelab", ZONE: "pve1"}
    region = {"key": REGION, "values": ["homelab"]}
    other_zone = {"key": ZONE, "values": ["pve2"]}
    match = storage_nodes.topology_matches
    assert match([], labels)
    assert match([{"matchLabelExpressions": [region]}], labels)
    assert not match([{"matchLabelExpressions": [region, other_zone]}], labels)
    assert match(
        [{"matchLabelExpressions": [other_zone]}, {"matchLabelExpressions": [region]}], labels
    )
    assert not match([{"matchLabelExpressions": []}], labels)  # an empty term matches nothing


# --- The shipped stacks -----------------------------------------------------------------------


@lru_cache(maxsize=3)
def shipped_objects(stack: str) -> tuple[Placed, ...]:
    """Everything `stack` puts in its cluster, as run_checks hands it to these checks."""
    doc = document(stack)
    nodes, _ = scheduling.plan_nodes(doc)
    rendered = gitops._render_environment(stack)
    releases = helm_render.rendered_releases(doc, K8S)
    objects, notes = stack_objects(doc, K8S, nodes, rendered, releases)
    assert notes == []
    return tuple(objects)


@pytest.mark.parametrize("stack", STACKS)
def test_redis_claim_binds_through_the_default_proxmox_class(stack: str) -> None:
    objects = list(shipped_objects(stack))
    [redis] = [c for c in storage.claims_of(objects) if c.name == "data-redis-0"]
    assert (redis.namespace, redis.requested_class, redis.spec["accessModes"]) == (
        "podinfo",
        None,
        ["ReadWriteOnce"],
    )
    defaults = [o for o in of_kind(objects, "StorageClass") if storage.is_default(o.manifest)]
    assert len(defaults) == 1
    assert defaults[0].manifest["provisioner"] == PROXMOX
    assert defaults[0].manifest["volumeBindingMode"] == "WaitForFirstConsumer"
    assert find(objects, "CSIDriver", PROXMOX) is not None
    findings = storage.evaluate(objects, shipped_nodes(stack))
    assert (findings.problems, findings.notes) == ([], [])
    [plugin] = storage_nodes.node_plugins(objects, PROXMOX)
    assert (plugin.namespace, plugin.manifest["metadata"]["name"]) == (
        "csi-proxmox",
        "proxmox-csi-plugin-node",
    )


def shipped_nodes(stack: str) -> list[Node]:
    nodes, notes = scheduling.plan_nodes(document(stack))
    assert notes == []
    return nodes


def with_node_plugin_selector(objects: list[Placed], selector: dict[str, str]) -> list[Placed]:
    """`objects` with the Proxmox CSI node plugin given `selector` (as the chart's
    values.talos.yaml would)."""
    changed = []
    for placed in objects:
        if placed.manifest.get("kind") == "DaemonSet" and placed.namespace == "csi-proxmox":
            manifest = copy.deepcopy(placed.manifest)
            manifest["spec"]["template"]["spec"]["nodeSelector"] = selector
            placed = Placed(manifest, placed.namespace, placed.where)
        changed.append(placed)
    return changed


#: The problem, for the stack's class `proxmox-talos-{stack}-vm` (`.format(stack=...)`).
NODE_PLUGIN_MISSING = (
    "gitops/apps/podinfo/base/redis.yaml: PersistentVolumeClaim podinfo/data-redis-0 (from "
    "StatefulSet podinfo/redis volumeClaimTemplates[0]): StorageClass proxmox-talos-{stack}-vm "
    "(provisioner csi.proxmox.sinextra.dev): the driver's node plugin, DaemonSet "
    "csi-proxmox/proxmox-csi-plugin-node "
    "(upstream/charts/proxmox-csi-plugin/templates/node-deployment.yaml), runs on none of the "
    "nodes its pod (StatefulSet podinfo/redis) can run on and the class admits"
)


@pytest.mark.parametrize("stack", STACKS)
def test_the_talos_node_selector_leaves_the_redis_claim_without_node_plugin(stack: str) -> None:
    """The chart's values.talos.yaml selects node-plugin nodes by a label only the Talos CCM
    sets, which these clusters do not run: no node would mount the Redis volume."""
    objects = with_node_plugin_selector(list(shipped_objects(stack)), NOCLOUD)
    problems = storage.evaluate(objects, shipped_nodes(stack)).problems
    # Prometheus' claims too, in staging and prod (docs/monitoring.md).
    [problem] = [p for p in problems if "podinfo/data-redis-0" in p]
    assert len(problems) == (1 if stack == "dev" else 2)
    assert problem.startswith(NODE_PLUGIN_MISSING.format(stack=stack))
    assert "nodeSelector node.cloudprovider.kubernetes.io/platform=nocloud (" in problem


def test_the_plan_fails_when_no_node_plugin_runs_where_the_claim_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = with_node_plugin_selector(list(shipped_objects("dev")), NOCLOUD)
    monkeypatch.setattr(checks, "stack_objects", lambda *args: (objects, []))
    result = run_checks(document("dev"), K8S)
    assert any(p.startswith(NODE_PLUGIN_MISSING.format(stack="dev")) for p in result.problems)


@pytest.mark.parametrize("stack", STACKS)
def test_redis_claim_template_spells_out_its_kind(stack: str) -> None:
    """Under ServerSideApply a claim template without apiVersion and kind differs from the live
    StatefulSet, which Argo CD then shows OutOfSync for ever (argoproj/argo-cd#11143)."""
    redis = find(list(shipped_objects(stack)), "StatefulSet", "redis", "podinfo")
    assert redis is not None
    [template] = redis.manifest["spec"]["volumeClaimTemplates"]
    assert (template["apiVersion"], template["kind"]) == ("v1", "PersistentVolumeClaim")


def test_redis_volume_size_grows_towards_prod() -> None:
    sizes = {
        stack: next(
            c.spec["resources"]["requests"]["storage"]
            for c in storage.claims_of(list(shipped_objects(stack)))
            if c.name == "data-redis-0"
        )
        for stack in STACKS
    }
    assert sizes == {"dev": "1Gi", "staging": "1Gi", "prod": "2Gi"}


def test_run_checks_reports_claims_and_hpas_that_would_not_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan fails on a claim that stays Pending and on an HPA without metrics API, and
    names both checks among those that ran (tests/offline/test_metrics_api.py has the rules)."""
    removed = ("StorageClass", "APIService")
    objects = [o for o in shipped_objects("dev") if o.manifest.get("kind") not in removed]
    monkeypatch.setattr(checks, "stack_objects", lambda *args: (objects, []))
    result = run_checks(document("dev"), K8S)
    assert any(
        "PersistentVolumeClaim podinfo/data-redis-0" in p and "no default StorageClass" in p
        for p in result.problems
    )
    assert any(
        "HorizontalPodAutoscaler podinfo/frontend" in p and "FailedGetResourceMetric" in p
        for p in result.problems
    )
    assert {"Storage claims 1", "HPA metrics APIs 2"} <= set(result.ran)
