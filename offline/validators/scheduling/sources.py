"""Everything the stack runs, as placed manifests: the program's own Kubernetes objects, the
GitOps environment its root Application follows, the Helm releases it installs (rendered by
helm_render.py) and what Talos runs itself (talos.py)."""

from __future__ import annotations

from typing import Any

from .. import gitops
from ..disruption.objects import Placed
from ..disruption.sources import RELEASE_TYPE, gitops_objects, plan_objects, stack_environment
from .nodes import Node
from .talos import talos_objects

Releases = dict[str, list[dict[str, Any]]]


def release_namespaces(doc: dict[str, Any]) -> dict[str, str]:
    """Release name -> the namespace it installs into (`inputs.namespace`, else `default`)."""
    found = {}
    for resource in doc["resources"]:
        if resource["type"] == RELEASE_TYPE:
            inputs = resource.get("inputs") or {}
            namespace = str(inputs.get("namespace") or "default")
            found[str(inputs.get("name") or resource["name"])] = namespace
            found.setdefault(resource["name"], namespace)
    return found


def release_objects(
    doc: dict[str, Any], kubernetes_version: str, releases: Releases | None = None
) -> tuple[list[Placed], list[str]]:
    """The objects of the plan's Helm releases (`rendered_releases`: release name -> manifests);
    an object without a namespace is in its release's namespace."""
    if releases is None:
        try:  # written alongside this check; imported late so either can land first
            from ..helm_render import rendered_releases
        except ImportError:
            return [], ["Helm releases not placed: offline/validators/helm_render.py is absent"]
        releases = rendered_releases(doc, kubernetes_version)
    namespaces = release_namespaces(doc)
    objects = []
    for release, manifests in releases.items():
        for manifest in manifests:
            if not isinstance(manifest, dict):
                continue
            namespace = (manifest.get("metadata") or {}).get("namespace")
            namespace = namespace or namespaces.get(release, "default")
            objects.append(Placed(manifest, str(namespace), f"release {release}"))
    return objects, []


def environment_objects(
    doc: dict[str, Any], rendered: dict[str, list[gitops.RenderedObject]] | None = None
) -> tuple[list[Placed], list[str]]:
    environment = stack_environment(doc)
    if environment is None:
        return [], []
    env, root_namespace = environment
    if rendered is None:
        try:
            rendered = gitops._render_environment(env)
        except gitops.GitOpsError as exc:
            return [], [f"gitops/envs/{env} not placed: {exc}"]
    return gitops_objects(rendered, root_namespace), []


def stack_objects(
    doc: dict[str, Any],
    kubernetes_version: str,
    nodes: list[Node],
    rendered: dict[str, list[gitops.RenderedObject]] | None = None,
    releases: Releases | None = None,
) -> tuple[list[Placed], list[str]]:
    """(objects, notes on what could not be read)."""
    objects = plan_objects(doc)
    from_tree, notes = environment_objects(doc, rendered)
    from_charts, chart_notes = release_objects(doc, kubernetes_version, releases)
    return objects + from_tree + from_charts + talos_objects(nodes), notes + chart_notes
