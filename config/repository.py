"""What the GitOps tree says about Git, read from the tree itself.

- The repository's URL, written once: in `gitops/repository/repository.yaml`, the file every
  environment of the tree takes its `repoURL` from. A stack's `gitops.repo_url` defaults to it,
  so forking means editing that one file.
- The Git ref each environment follows: `data.revision` of `gitops/envs/<env>/revision.yaml`,
  which the tree writes into the `targetRevision` of every Application of that environment. The
  stack of the environment must name the same ref (`gitops.revision`, the root Application's
  `targetRevision`); `offline.validators.gitops` checks that they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import yaml

GITOPS_DIR = Path(__file__).resolve().parent.parent / "gitops"
REPOSITORY_FILE = GITOPS_DIR / "repository" / "repository.yaml"
REVISION_FILE = "revision.yaml"
"""The file of `gitops/envs/<env>/` that names the environment's Git ref."""


class TreeRepository(NamedTuple):
    url: str


def tree_repository() -> TreeRepository:
    """The repository URL the GitOps tree names (`tree_repository().url`, or `[0]`)."""
    data = yaml.safe_load(REPOSITORY_FILE.read_text())["data"]
    return TreeRepository(str(data["url"]))


def revision_file(env: str, gitops_dir: Path | None = None) -> Path:
    """`gitops/envs/<env>/revision.yaml`."""
    return (gitops_dir or GITOPS_DIR) / "envs" / env / REVISION_FILE


def tree_revision(env: str, gitops_dir: Path | None = None) -> str:
    """The Git ref the Applications of `gitops/envs/<env>` follow; ValueError if not readable."""
    path = revision_file(env, gitops_dir)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no such file (each environment names its Git ref)") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot be read: {exc}") from exc
    data = document.get("data") if isinstance(document, dict) else None
    revision = data.get("revision") if isinstance(data, dict) else None
    if not isinstance(revision, str) or not revision.strip():
        raise ValueError(f"{path}: expected a ConfigMap with a `data.revision` string")
    return revision
