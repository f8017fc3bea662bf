"""Rendering: the tree's kustomizations through `kubectl kustomize` and the charts its
Applications install through Helm (charts.py), as Argo CD renders them, keeping the file (or the
chart template) each object came from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from ... import parsed, prefetch
from .. import helm_render  # which imports this package: its names are read at call time
from . import charts, operator, tree, velero_pods
from .stack import stack_kubernetes_version
from .tree import GITOPS_REPO_URL, GitOpsError, RenderedObject, _check_root, _relative

_ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
#: Renders of one level of the tree run side by side (kubectl and helm are subprocesses).
RENDER_WORKERS = 4


def kubectl_path() -> Path:
    """kubectl from this interpreter's bin directory (the venv), else from PATH."""
    beside = Path(sys.executable).parent / ("kubectl.exe" if os.name == "nt" else "kubectl")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("kubectl")
    if found:
        return Path(found)
    raise GitOpsError(
        f"kubectl not found next to {sys.executable} nor on PATH: install the development "
        "requirements (pip install -r requirements-dev.txt), which bring kubectl with kustomize"
    )


def render_with_origins(path: Path) -> list[RenderedObject]:
    """Render the kustomization at `path`, keeping the file each object came from.

    kustomize is run on a throw-away kustomization that includes `path` with
    `buildMetadata: [originAnnotations]`; the origin annotation is then removed again, so the
    manifests are exactly what `kubectl kustomize path` (and Argo CD) produce.
    """
    path = Path(path).resolve()
    if not (path / "kustomization.yaml").is_file():
        raise GitOpsError(f"{_relative(path)}: no kustomization.yaml to render")
    kubectl = kubectl_path()
    with tempfile.TemporaryDirectory(prefix="gitops-render-") as tmp:
        wrapper = Path(tmp).resolve()
        target = os.path.relpath(path, wrapper)
        (wrapper / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {json.dumps(target)}\nbuildMetadata:\n  - originAnnotations\n"
        )
        result = subprocess.run(
            [str(kubectl), "kustomize", str(wrapper)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            stderr = result.stderr.strip().replace(str(wrapper), "<render>")
            raise GitOpsError(f"kustomize could not render {_relative(path)}: {stderr}")
        documents = [doc for doc in yaml.load_all(result.stdout, Loader=parsed.LOADER) if doc]
        return [_strip_origin(doc, wrapper, path) for doc in documents]


def _strip_origin(manifest: dict[str, Any], wrapper: Path, rendered: Path) -> RenderedObject:
    metadata = manifest.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    origin_text = annotations.pop(_ORIGIN_ANNOTATION, None)
    if not annotations:
        metadata.pop("annotations", None)
    origin = _relative(rendered)
    if origin_text:
        fields = yaml.safe_load(origin_text) or {}
        file = fields.get("path") or fields.get("configuredIn")
        if file:
            origin = _relative(wrapper / file)
    return RenderedObject(manifest=manifest, origin=origin)


def render(path: Path) -> list[dict[str, Any]]:
    """Render the kustomization at `path` (`kubectl kustomize path`) into a list of objects."""
    return [item.manifest for item in render_with_origins(path)]


def _sources(application: dict[str, Any]) -> list[dict[str, Any]]:
    spec = application.get("spec") or {}
    sources = list(spec.get("sources") or [])
    if spec.get("source"):
        sources.insert(0, spec["source"])
    return sources


def _local_source_path(source: dict[str, Any]) -> str | None:
    """The repo-relative path of a source in this repository, or None for other repositories."""
    if source.get("repoURL") != GITOPS_REPO_URL or not source.get("path"):
        return None
    relative = str(source["path"]).strip("/")
    root = _tree_root()
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root):
        raise GitOpsError(f"Application source path {relative!r} leaves the repository")
    return relative


def folder_namespaces(rendered: dict[str, list[RenderedObject]]) -> dict[str, str]:
    """The destination namespace of the Application that follows each folder of a render (an
    object of that folder without a namespace lands there)."""
    found: dict[str, str] = {}
    for items in rendered.values():
        for item in items:
            if item.manifest.get("kind") != "Application":
                continue
            spec = item.manifest.get("spec") or {}
            destination = (spec.get("destination") or {}).get("namespace")
            for source in _sources(item.manifest):
                try:
                    folder = _local_source_path(source)
                except GitOpsError:
                    continue
                if folder is not None and destination:
                    found.setdefault(folder, str(destination))
    return found


def _tree_root() -> Path:
    """The checkout the tree is in (the repository, or the copy `tree.GITOPS_DIR` points at):
    the paths of Applications' sources are relative to it."""
    return tree.GITOPS_DIR.resolve().parent


def prefetch_environment(env: str, kubernetes_version: str | None = None) -> None:
    """Start rendering `env` (an environment or a cluster's overlay root, tree.py) in the
    background (offline/prefetch.py)."""
    version = kubernetes_version or stack_kubernetes_version(env)
    prefetch.start(_prefetch_key(env, version), _render_now, env, version)


def _prefetch_key(env: str, kubernetes_version: str) -> tuple[str, ...]:
    return ("gitops", env, str(tree.GITOPS_DIR), kubernetes_version)


def _render_environment(
    env: str, kubernetes_version: str | None = None
) -> dict[str, list[RenderedObject]]:
    """`render_environment` with the file (or chart template) each object comes from.

    `env` is an environment or a cluster's overlay root (`prod/clusters/prod-b`, tree.py).
    Charts render for `kubernetes_version`, by default the stack's (`kubernetes_version` of
    `Pulumi.<env>.yaml`, of a cluster's overlay `Pulumi.<cluster>.yaml`). A Helm source that
    does not render is left out: the validation reports why (`charts.source_problems`).
    """
    version = kubernetes_version or stack_kubernetes_version(env)
    pending = prefetch.take(_prefetch_key(env, version))
    if pending is not None and pending.exception() is None:
        return pending.result()
    return _render_now(env, version)


def _render_now(env: str, kubernetes_version: str) -> dict[str, list[RenderedObject]]:
    """The environment's folder, then level by level the folders and charts its Applications
    follow, each level's renders in parallel (each is a subprocess: kubectl or helm); then the
    StatefulSets the Prometheus Operator would make (operator.py) and the pods Velero starts for
    its Schedules (velero_pods.py)."""
    _check_root(env)
    env_path = tree.GITOPS_DIR / "envs" / env
    rendered = {_relative(env_path): render_with_origins(env_path)}
    level = [_relative(env_path)]
    with ThreadPoolExecutor(max_workers=RENDER_WORKERS, thread_name_prefix="gitops-render") as pool:
        while level:
            applications = [
                item.manifest
                for folder in level
                for item in rendered[folder]
                if item.manifest.get("kind") == "Application"
            ]
            folders = sorted(
                {
                    relative
                    for app in applications
                    for source in _sources(app)
                    if (relative := _local_source_path(source)) is not None
                    and relative not in rendered
                }
            )
            root = _tree_root()
            folder_jobs = {f: pool.submit(render_with_origins, root / f) for f in folders}
            chart_jobs = {
                source.key: pool.submit(_render_chart, source, kubernetes_version)
                for app in applications
                for source in charts.helm_sources(app)
            }
            for folder, job in folder_jobs.items():
                rendered[folder] = job.result()
            for key, job in chart_jobs.items():
                objects = job.result()
                if objects is not None:
                    rendered[key] = objects
            level = folders
    # What the Prometheus Operator makes of the Prometheus and Alertmanager resources: their
    # StatefulSets, which the scheduling, storage and budget checks place like any other.
    rendered.update(operator.managed_objects(rendered))
    # What Velero starts for each Schedule: a data-mover pod per backed-up volume, a kopia
    # maintenance Job per repository (standing in as Jobs, placed like a CronJob's run).
    rendered.update(velero_pods.managed_objects(rendered))
    return rendered


def _render_chart(
    source: charts.HelmSource, kubernetes_version: str
) -> list[RenderedObject] | None:
    try:
        return charts.render(source, kubernetes_version)
    except helm_render.HelmError:
        return None  # reported by charts.source_problems


def render_environment(
    env: str, kubernetes_version: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Render `gitops/envs/<env>` (`env` an environment or a cluster's overlay root, tree.py),
    every folder of this repository its Applications follow (and theirs), and every Helm chart
    they install.

    Keys are repo-relative paths (`gitops/envs/dev`, `gitops/apps/podinfo/overlays/dev`), for
    a chart `chart <chart> <version> (Application <name>)`, and for what the Prometheus Operator
    makes of a resource `prometheus-operator (Prometheus monitoring/<name>)`, for what Velero
    starts from a Schedule `velero (Schedule velero/<name>)`.
    """
    rendered = _render_environment(env, kubernetes_version)
    return {path: [item.manifest for item in items] for path, items in rendered.items()}
