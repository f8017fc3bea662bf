"""Which Argo CD Applications would recreate a namespace, and the app-of-apps above each: the
GitOps tree of this checkout, rendered as Argo CD renders it (`kubectl kustomize`, through
`offline/validators/gitops/rendering.py`).

Argo CD recreates a deleted namespace (empty: `CreateNamespace=true`, or the objects of its
Applications) as soon as it syncs, and self-heal syncs at once. A restore needs every Application
that deploys into the namespace to stop syncing, and so every app-of-apps above it: the parent
would set the child's sync policy back from Git (self-heal) the moment it is changed. The root
Application (the program's) is the top of every chain.

The checkout may not be the revision the cluster follows (`gitops.revision`, e.g. `env/prod`):
the steps also check, in the cluster, that no Application deploying into the namespace still
syncs by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from offline.paths import REPO_ROOT
from offline.validators.gitops.rendering import _sources

from .facts import RecoverError

MAX_DEPTH = 4
"""Levels of app-of-apps followed below the root (the tree has two: root, platform)."""


@dataclass(frozen=True)
class Application:
    name: str
    namespace: str
    """Its destination namespace."""
    parent: str
    """The Application whose folder declares it (the root's name for the top level)."""
    manifest: dict[str, Any] = field(compare=False, repr=False, default_factory=dict)


VELERO_APPLICATION = "velero"
"""The Velero add-on (gitops/platform/addons/velero/application.yaml)."""


@dataclass(frozen=True)
class VeleroSchedule:
    name: str
    """The Schedule object's name: the chart names it `<release>-<key>` (vmware-tanzu/helm-charts
    velero 12.1.0 templates/schedule.yaml)."""
    namespaces: tuple[str, ...]
    """The namespaces its backups hold (`template.includedNamespaces`)."""


def _local_folder(source: dict[str, Any], root: Path) -> Path | None:
    """The folder of this checkout a source follows (a path with a kustomization), else None
    (a Helm chart, another repository)."""
    path = source.get("path")
    if not isinstance(path, str) or not path.strip("/") or source.get("chart"):
        return None
    folder = (root / path.strip("/")).resolve()
    if not folder.is_relative_to(root.resolve()) or not (folder / "kustomization.yaml").is_file():
        return None
    return folder


@cache
def _rendered(folder: Path) -> tuple[dict[str, Any], ...]:
    from offline.validators.gitops.rendering import render
    from offline.validators.gitops.tree import GitOpsError

    try:
        return tuple(render(folder))
    except GitOpsError as exc:
        raise RecoverError(f"the GitOps tree cannot be read: {exc}") from None


def tree_applications(root_name: str, root_path: str, root: Path = REPO_ROOT) -> list[Application]:
    """Every Application the root's folder declares, and below it, each with its parent."""
    out: list[Application] = []
    level = [(root_name, (root / root_path.strip("/")).resolve())]
    for _ in range(MAX_DEPTH):
        below = []
        for parent, folder in level:
            if not (folder / "kustomization.yaml").is_file():
                raise RecoverError(
                    f"{folder}: no kustomization.yaml (the root Application's path "
                    f"{root_path!r} is not in this checkout)"
                )
            for obj in _rendered(folder):
                if obj.get("kind") != "Application":
                    continue
                name = str((obj.get("metadata") or {}).get("name", ""))
                destination = ((obj.get("spec") or {}).get("destination") or {}).get("namespace")
                out.append(Application(name, str(destination or ""), parent, obj))
                below += [
                    (name, sub)
                    for source in _sources(obj)
                    if (sub := _local_folder(source, root)) is not None
                ]
        if not below:
            break
        level = below
    return out


def chain_for(namespace: str, apps: list[Application], root_name: str) -> list[str]:
    """The Applications to stop syncing before `namespace` is restored, parents first: every
    Application deploying into it and each app-of-apps above them, the root first."""
    by_name = {a.name: a for a in apps}
    order: list[str] = [root_name]
    for app in apps:
        if app.namespace != namespace:
            continue
        chain = []
        current: Application | None = app
        while current is not None and current.name not in order and current.name not in chain:
            chain.append(current.name)
            current = by_name.get(current.parent)
        order += reversed(chain)
    return order


def velero_schedules(apps: list[Application]) -> list[VeleroSchedule]:
    """The Schedules the Velero add-on's chart makes, from its Application's values."""
    out = []
    for app in apps:
        if app.name != VELERO_APPLICATION:
            continue
        for source in _sources(app.manifest):
            helm = source.get("helm") or {}
            values = helm.get("valuesObject") or {}
            release = helm.get("releaseName") or app.name
            for key, schedule in sorted((values.get("schedules") or {}).items()):
                if not isinstance(schedule, dict) or schedule.get("disabled"):
                    continue
                template = schedule.get("template") or {}
                namespaces = tuple(str(n) for n in template.get("includedNamespaces") or ())
                out.append(VeleroSchedule(f"{release}-{key}", namespaces))
    return out
