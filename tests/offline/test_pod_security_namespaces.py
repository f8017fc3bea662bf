"""Every namespace the stack's pods run in carries Pod Security labels (issue 15, item 5), and
every pod meets what its namespace enforces (and warns and audits).

A namespace's labels come from whoever makes it: the program's Namespaces, its NamespacePatches
of the namespaces Helm or Talos make (`argocd`, `kube-system`), and the tree's Applications that
create their destination (`CreateNamespace=true` with `managedNamespaceMetadata`). Docs:
docs/platform.md, "Pod Security"; the monitoring namespaces' own reasons: docs/monitoring.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from offline.validators.cluster_objects import pod_template
from offline.validators.disruption.objects import Placed
from offline.validators.disruption.sources import RELEASE_TYPE
from offline.validators.monitoring.pod_security import namespace_levels, pod_security_problems
from tests.conftest import STACKS, document
from tests.monitoring.test_pod_security import _annotations, _as_the_operator_makes_it, _name
from tests.offline.test_storage_binding import shipped_objects

ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
POD_SECURITY = "pod-security.kubernetes.io/"

#: The level of each namespace and why (docs/platform.md "Pod Security" says the same).
EXPECTED = {
    "argocd": "restricted",  # the argo-cd chart's securityContexts, redis-ha's too
    "kube-system": "privileged",  # Cilium: hostNetwork, hostPath, capabilities
    "cloudflared": "restricted",
    "podinfo": "restricted",
    "etcd-backup": "restricted",
    "monitoring": "baseline",  # warns and audits restricted (docs/monitoring.md)
    "node-exporter": "privileged",  # node-exporter: host namespaces and hostPath
    "csi-proxmox": "privileged",  # the CSI node plugin: privileged, hostPath
    "velero": "privileged",  # the node agent reads pod volumes from the host (hostPath)
    "cilium-secrets": "restricted",  # Secrets only (the cilium chart's namespace)
    "default": "restricted",  # nothing of the platform runs there
    "kube-public": "restricted",  # the cluster-info ConfigMap
    "kube-node-lease": "restricted",  # the nodes' Leases
}
#: The namespaces the API server makes: they exist in every cluster, whatever the stack renders.
BUILT_IN = {"default", "kube-public", "kube-node-lease", "kube-system"}


def namespace_labels(objects: list[Placed]) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """namespace -> [(who labels it, its Pod Security labels)]."""
    found: dict[str, list[tuple[str, dict[str, str]]]] = {}

    def add(namespace: str, where: str, labels: dict[str, Any] | None) -> None:
        ours = {k: str(v) for k, v in (labels or {}).items() if k.startswith(POD_SECURITY)}
        found.setdefault(namespace, []).append((where, ours))

    for o in objects:
        kind = o.manifest.get("kind")
        metadata = o.manifest.get("metadata") or {}
        if kind in ("Namespace", "NamespacePatch"):
            add(metadata["name"], f"{kind} ({o.where})", metadata.get("labels"))
        elif kind == "Application":
            spec = o.manifest.get("spec") or {}
            sync = spec.get("syncPolicy") or {}
            if "CreateNamespace=true" in (sync.get("syncOptions") or []):
                managed = sync.get("managedNamespaceMetadata") or {}
                destination = (spec.get("destination") or {}).get("namespace")
                add(destination, f"Application {metadata['name']}", managed.get("labels"))
    return found


def levels_of(objects: list[Placed]) -> dict[str, dict[str, str]]:
    """namespace -> its Pod Security labels; two sources that disagree are an error."""
    out: dict[str, dict[str, str]] = {}
    for namespace, sources in namespace_labels(objects).items():
        merged: dict[str, str] = {}
        for where, labels in sources:
            for key, value in labels.items():
                assert merged.setdefault(key, value) == value, (
                    f"{namespace}: {where} sets {key}={value}, another source {merged[key]}"
                )
        out[namespace] = merged
    return out


def _destinations(objects: list[Placed]) -> set[str]:
    return {
        str(((o.manifest.get("spec") or {}).get("destination") or {}).get("namespace"))
        for o in objects
        if o.manifest.get("kind") == "Application"
    }


def _release_namespaces(stack: str) -> set[str]:
    return {
        str((r.get("inputs") or {}).get("namespace") or "default")
        for r in document(stack)["resources"]
        if r["type"] == RELEASE_TYPE
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_with_pods_carries_pod_security_labels(stack: str) -> None:
    objects = list(shipped_objects(stack))
    levels = levels_of(objects)
    with_pods = {o.namespace for o in objects if pod_template(o.manifest)}
    declared = {
        str((o.manifest.get("metadata") or {}).get("name"))
        for o in objects
        if o.manifest.get("kind") in ("Namespace", "NamespacePatch")
    }
    every_object = {o.namespace for o in objects if o.namespace}
    needed = (
        with_pods
        | declared
        | every_object
        | BUILT_IN
        | _destinations(objects)
        | _release_namespaces(stack)
    )
    assert {"argocd", "kube-system", "cilium-secrets"} <= needed
    unlabelled = sorted(
        ns
        for ns in needed
        if ENFORCE not in levels.get(ns, {}) or levels[ns].get(ENFORCE_VERSION) != "latest"
    )
    assert unlabelled == []
    assert {ns: levels[ns][ENFORCE] for ns in needed} == {
        ns: level for ns, level in EXPECTED.items() if ns in needed
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_meets_what_its_namespace_enforces(stack: str) -> None:
    """Enforce, and warn and audit where set: no pod is refused, none draws a warning."""
    objects = list(shipped_objects(stack))
    levels = levels_of(objects)
    problems = []
    for placed in objects:
        if not pod_template(placed.manifest):
            continue
        modes = namespace_levels(levels.get(placed.namespace, {}))
        spec = _as_the_operator_makes_it(placed)
        for mode, level in modes.items():
            found = pod_security_problems(spec, level, _annotations(placed))
            problems += [f"{_name(placed)}: {mode} {level}: {p}" for p in found]
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_argocd_is_restricted_and_kube_system_needs_privileged(stack: str) -> None:
    """Every pod of the argo-cd release (redis-ha's too where it is on) would pass restricted;
    Cilium's agent would pass nothing short of privileged."""
    objects = list(shipped_objects(stack))
    argocd = [o for o in objects if o.namespace == "argocd" and pod_template(o.manifest)]
    assert argocd and all(o.where == "release argocd" for o in argocd)
    [cilium] = [
        o
        for o in objects
        if o.manifest.get("kind") == "DaemonSet" and o.manifest["metadata"]["name"] == "cilium"
    ]
    assert cilium.namespace == "kube-system"
    problems = pod_security_problems(_as_the_operator_makes_it(cilium), "baseline")
    assert "hostNetwork: host namespaces" in problems
    assert any(p.endswith(": hostPath volume") for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_the_patched_namespaces_are_patches(stack: str) -> None:
    """`argocd` (the release creates it) and `kube-system` (the API server does) are labelled
    by NamespacePatch, after the release for argocd: a Namespace would fail "already exists"."""
    everything = document(stack)["resources"]
    resources = {r["name"]: r for r in everything if r["type"].startswith("kubernetes:")}
    argocd = resources["argocd-namespace-pod-security"]
    kube_system = resources["kubernetes-kube-system-pod-security"]
    for patch, name in ((argocd, "argocd"), (kube_system, "kube-system")):
        assert patch["type"] == "kubernetes:core/v1:NamespacePatch"
        assert patch["inputs"]["metadata"]["name"] == name
    [release] = [r for r in everything if r["type"] == RELEASE_TYPE and r["name"] == "argocd"]
    assert release["urn"] in argocd["dependencies"]
    namespaces = {
        r["inputs"]["metadata"]["name"]
        for r in resources.values()
        if r["type"] == "kubernetes:core/v1:Namespace"
    }
    assert not {"argocd", "kube-system"} & namespaces
