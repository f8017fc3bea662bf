"""Versions (the promotion point): the image tag of each app in each environment, the `newTag`
of its overlay."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from . import tree
from .tree import GitOpsError, _check_environment, _relative

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def app_version_file(env: str, app: str) -> Path:
    """Where the version of `app` in `env` lives: the overlay's kustomization.yaml."""
    _check_environment(env)
    return tree.GITOPS_DIR / "apps" / app / "overlays" / env / "kustomization.yaml"


def _image_entry(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    images = data.get("images") or []
    if len(images) != 1 or "newTag" not in images[0]:
        raise GitOpsError(
            f"{_relative(path)}: needs exactly one `images:` entry with a `newTag` "
            "(the app's version in this environment)"
        )
    return dict(images[0])


def app_versions(env: str) -> dict[str, str]:
    """App name -> image tag in `env`: the `newTag` of `gitops/apps/<app>/overlays/<env>`."""
    _check_environment(env)
    found = sorted(tree.GITOPS_DIR.glob(f"apps/*/overlays/{env}/kustomization.yaml"))
    return {path.parents[2].name: str(_image_entry(path)["newTag"]) for path in found}


def set_app_version(env: str, app: str, tag: str) -> None:
    """Write `tag` as the `newTag` of `app` in `env`, keeping the file's comments and layout."""
    if not _TAG.fullmatch(tag) or tag == "latest":
        raise GitOpsError(f"{tag!r} is not a pinned image tag")
    path = app_version_file(env, app)
    if not path.is_file():
        raise GitOpsError(f"{_relative(path)}: no such overlay")
    _image_entry(path)
    text = path.read_text()
    pattern = re.compile(r"^(\s*newTag:\s*)(\S+)(.*)$", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise GitOpsError(f"{_relative(path)}: expected one `newTag:` line")
    path.write_text(pattern.sub(lambda m: f"{m.group(1)}{tag}{m.group(3)}", text))
