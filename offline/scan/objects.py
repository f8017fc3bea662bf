"""Every Kubernetes object a stack puts in its cluster, as the offline plan renders it, for the
scanners (docs/supply-chain.md, "Scanners").

The same three sources the plan's checks read (`offline/validators/scheduling/sources.py`,
`stack_objects`), each as a full manifest:

- the program's own objects: each `kubernetes:<group>/<version>:<Kind>` resource of the plan
  (`checks.manifest_of`: apiVersion and kind from the type token); a `<Kind>Patch` is left out
  (it carries only the fields it sets on an object something else creates);
- the Helm releases (argo-cd, cilium), rendered by the pinned Helm from the vendored charts
  (`helm_render.rendered_releases`; argo-cd without its CRDs, as the checks render it);
- the GitOps environment the stack's root Application follows: its folders and the add-on
  charts (`gitops._render_environment`). Only keys that are repository folders (`gitops/...`) or
  chart renders (`chart ...`) are taken: what the Prometheus Operator and Velero would start
  (`operator.py`, `velero_pods.py`) are models made for the scheduling check, not manifests
  anyone applies, and so is what Talos runs itself (`scheduling/talos.py`).

A namespaced object without a namespace gets the one it lands in, as the checks place it
(`scheduling/sources.py`): its release's namespace, or the destination namespace of the
Application that follows its folder (`gitops.folder_namespaces`; the root Application's for the
environment folder). Scanners then see the cluster's namespaces, not `default`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.errors import NAMESPACE

from ..graph import plan_document
from ..run import run_program
from ..stackfile import read_stack_config
from ..validators import gitops, helm_render
from ..validators.checks import is_patch, manifest_of
from ..validators.disruption.sources import stack_environment
from ..validators.gitops.tree import CLUSTER_SCOPED_KINDS
from ..validators.scheduling.sources import release_namespaces

STACKS = ("dev", "staging", "prod")
#: Render keys of `gitops._render_environment` that are rendered manifests (see above).
RENDERED_KEY_PREFIXES = ("gitops/", "chart ")


@dataclass(frozen=True)
class StackObject:
    manifest: dict[str, Any]
    source: str
    """Where it comes from: `resource <name>`, `release <name>`, a GitOps folder or chart."""


def placed(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """`manifest`, in `namespace` unless it names one or its kind is cluster-scoped (a copy)."""
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("namespace"):
        return manifest
    if manifest.get("kind") in CLUSTER_SCOPED_KINDS:
        return manifest
    return {**manifest, "metadata": {**metadata, "namespace": namespace}}


def plan_manifests(doc: dict[str, Any]) -> list[StackObject]:
    found = []
    for resource in doc["resources"]:
        manifest = manifest_of(resource)
        if manifest is not None and not is_patch(resource):
            found.append(StackObject(placed(manifest, "default"), f"resource {resource['name']}"))
    return found


def release_manifests(doc: dict[str, Any], kubernetes_version: str) -> list[StackObject]:
    namespaces = release_namespaces(doc)
    return [
        StackObject(placed(manifest, namespaces.get(release, "default")), f"release {release}")
        for release, manifests in helm_render.rendered_releases(doc, kubernetes_version).items()
        for manifest in manifests
        if isinstance(manifest, dict)
    ]


def environment_manifests(doc: dict[str, Any], kubernetes_version: str) -> list[StackObject]:
    environment = stack_environment(doc)
    if environment is None:
        return []
    env, root_namespace = environment
    rendered = gitops._render_environment(env, kubernetes_version or None)
    namespaces = gitops.folder_namespaces(rendered)
    return [
        StackObject(placed(item.manifest, namespaces.get(key, root_namespace)), key)
        for key, items in rendered.items()
        if key.startswith(RENDERED_KEY_PREFIXES)
        for item in items
    ]


def doc_manifests(doc: dict[str, Any], kubernetes_version: str) -> list[StackObject]:
    """Every object of a plan document (`graph.plan_document`), rendered offline."""
    return (
        plan_manifests(doc)
        + release_manifests(doc, kubernetes_version)
        + environment_manifests(doc, kubernetes_version)
    )


def stack_manifests(stack: str) -> list[StackObject]:
    """Every object of `stack` (its shipped `Pulumi.<stack>.yaml`), rendered offline."""
    values = read_stack_config(stack)
    kubernetes_version = values.values.get(f"{NAMESPACE}:kubernetes_version", "")
    doc = plan_document(run_program(values.values, values.secret_keys, stack))
    return doc_manifests(doc, kubernetes_version)
