"""Every PersistentVolumeClaim a stack makes binds: the shipped stacks' Redis claim through the
one default StorageClass of the Proxmox CSI plugin, and each way a claim stays Pending or never
mounts reported with the claim, where it comes from and what to fix."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pytest

from offline.validators import checks, gitops, helm_render, scheduling, storage
from offline.validators.checks import run_checks
from offline.validators.cluster_objects import find, of_kind
from offline.validators.disruption.objects import Placed
from offline.validators.scheduling.sources import stack_objects
from tests.conftest import STACKS, document

K8S = "v1.36.2"
PROXMOX = "csi.proxmox.sinextra.dev"
UNSET = object()


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


def test_a_provisioner_without_csidriver_is_unknown() -> None:
    findings = storage.evaluate([storage_class("proxmox", default="true"), claim()])
    assert findings.problems == []
    [note] = findings.notes
    assert f"no CSIDriver {PROXMOX} among the stack's objects" in note
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
    findings = storage.evaluate(objects)
    assert (findings.problems, findings.notes) == ([], [])


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
