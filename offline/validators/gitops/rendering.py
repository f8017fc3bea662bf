"""Rendering: the tree's kustomizations through `kubectl kustomize`, as Argo CD renders them,
keeping the file each object came from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ... import parsed, prefetch
from ...paths import REPO_ROOT
from . import tree
from .tree import GITOPS_REPO_URL, GitOpsError, RenderedObject, _check_environment, _relative

_ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


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
    resolved = (REPO_ROOT / relative).resolve()
    if not resolved.is_relative_to(REPO_ROOT):
        raise GitOpsError(f"Application source path {relative!r} leaves the repository")
    return relative


def prefetch_environment(env: str) -> None:
    """Start rendering `env` in the background (offline/prefetch.py)."""
    prefetch.start(("gitops", env, str(tree.GITOPS_DIR)), _render_now, env)


def _render_environment(env: str) -> dict[str, list[RenderedObject]]:
    pending = prefetch.take(("gitops", env, str(tree.GITOPS_DIR)))
    if pending is not None and pending.exception() is None:
        return pending.result()
    return _render_now(env)


def _render_now(env: str) -> dict[str, list[RenderedObject]]:
    _check_environment(env)
    env_path = tree.GITOPS_DIR / "envs" / env
    rendered = {_relative(env_path): render_with_origins(env_path)}
    for item in list(rendered[_relative(env_path)]):
        if item.manifest.get("kind") != "Application":
            continue
        for source in _sources(item.manifest):
            relative = _local_source_path(source)
            if relative is not None and relative not in rendered:
                rendered[relative] = render_with_origins(REPO_ROOT / relative)
    return rendered


def render_environment(env: str) -> dict[str, list[dict[str, Any]]]:
    """Render `gitops/envs/<env>` and every folder of this repository its Applications follow.

    Keys are repo-relative paths (`gitops/envs/dev`, `gitops/apps/podinfo/overlays/dev`).
    """
    return {
        path: [item.manifest for item in items] for path, items in _render_environment(env).items()
    }
