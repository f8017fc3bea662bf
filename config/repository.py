"""The GitOps repository's URL, written once: in `gitops/repository/repository.yaml`, the file
every environment of the tree takes its `repoURL` from. A stack's `gitops.repo_url` defaults to
it, so forking means editing that one file."""

from __future__ import annotations

from pathlib import Path

import yaml

REPOSITORY_FILE = (
    Path(__file__).resolve().parent.parent / "gitops" / "repository" / "repository.yaml"
)


def tree_repository() -> tuple[str, str]:
    """The repository URL and revision the GitOps tree names."""
    data = yaml.safe_load(REPOSITORY_FILE.read_text())["data"]
    return str(data["url"]), str(data["revision"])
