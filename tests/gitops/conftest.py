"""Fixtures for the GitOps tree tests: each environment is rendered once per session."""

from __future__ import annotations

from typing import Any

import pytest

from offline.validators import gitops
from tests.gitops.velero_support import K8S, Rendered

#: The oldest and newest Kubernetes minor the stacks may run (Talos v1.13: v1.31 to v1.36).
KUBERNETES_VERSIONS = ("v1.31.0", "v1.36.2")


@pytest.fixture(scope="session")
def rendered() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """env -> repo-relative path -> objects, as `render_environment` returns them."""
    return {env: gitops.render_environment(env) for env in gitops.ENVIRONMENTS}


def objects(rendered_env: dict[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [obj for objs in rendered_env.values() for obj in objs if obj.get("kind") == kind]


def find(rendered_env: dict[str, list[dict[str, Any]]], kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in objects(rendered_env, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="session")
def shipped() -> dict[str, Rendered]:
    """env -> render key -> objects, as the offline plan renders each environment (the Velero
    tests': velero_support.py)."""
    return {env: gitops._render_environment(env, K8S) for env in gitops.ENVIRONMENTS}
