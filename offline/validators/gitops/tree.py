"""The GitOps tree: where it and the stack files are, its environments, the repository and Git
ref they follow, and what is reported about it (`Problem`, `GitOpsError`).

`GITOPS_DIR` and `STACKS_DIR` are read as `tree.GITOPS_DIR` and `tree.STACKS_DIR` at call time, so
pointing them elsewhere (`monkeypatch.setattr(gitops.tree, "GITOPS_DIR", ...)`) takes effect in
every module of the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.errors import NAMESPACE
from config.repository import tree_repository, tree_revision

from ...paths import REPO_ROOT

GITOPS_DIR: Path = REPO_ROOT / "gitops"
ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
#: The folder of `gitops/envs/<env>/` that holds the overlays of the environment's other clusters:
#: `gitops/envs/<env>/clusters/<cluster>/` is the root of the cluster `<cluster>` (the stack whose
#: `cluster_name` it is), docs/multi-cluster.md.
CLUSTERS = "clusters"

#: Where the stack files (`Pulumi.<env>.yaml`) are.
STACKS_DIR: Path = REPO_ROOT
#: The stack setting that is the root Application's `targetRevision`.
STACK_REVISION_KEY = f"{NAMESPACE}:gitops.revision"
#: Argo CD's name for the cluster it runs in.
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
#: Kinds that live outside namespaces (an AppProject must whitelist them as cluster resources).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
ARGOCD_KINDS = ("Application", "AppProject", "ApplicationSet")
#: Where Argo CD runs and keeps its Applications and AppProjects.
ARGOCD_NAMESPACE = "argocd"
#: The project of the platform add-ons' Applications (gitops/platform/envs/<env>/appproject.yaml).
PLATFORM_PROJECT = "platform"


# --- Roots: what a stack's root Application follows ------------------------------------------
#
# A *root* names the folder of `gitops/envs/` a stack's root Application follows (its
# `gitops.path`), and is what the checks of this package take where they say `env`: an
# environment (`prod`: `gitops/envs/prod`, the cluster named like the environment), or the
# overlay of one of the environment's other clusters (`prod/clusters/prod-b`:
# `gitops/envs/prod/clusters/prod-b`). An overlay renders the environment's shared Applications
# (`gitops/envs/<env>/base`) at its own `revision.yaml`, its `platform` Application following
# the cluster's add-on values (`platform_path`).


def cluster_root(env: str, cluster: str) -> str:
    """The root of cluster `cluster` of environment `env`: `<env>/clusters/<cluster>`."""
    return f"{env}/{CLUSTERS}/{cluster}"


def environment_of(root: str) -> str:
    """The environment of a root (`prod/clusters/prod-b` -> `prod`)."""
    return root.split("/", 1)[0]


def cluster_of(root: str) -> str | None:
    """The cluster of an overlay root (`prod/clusters/prod-b` -> `prod-b`); None for an
    environment."""
    parts = root.split("/")
    return parts[2] if len(parts) == 3 and parts[1] == CLUSTERS else None


def stack_of(root: str) -> str:
    """The stack whose root Application follows `root`: `Pulumi.<env>.yaml` for an environment,
    `Pulumi.<cluster>.yaml` for a cluster's overlay (its `cluster_name`)."""
    return cluster_of(root) or root


def root_path(root: str) -> str:
    """The repo-relative folder of a root: the `gitops.path` of its stack."""
    return f"gitops/envs/{root}"


def root_of_path(path: str) -> str | None:
    """The root a `gitops.path` names (`gitops/envs/prod`, `gitops/envs/prod/clusters/prod-b`),
    or None when it names none of the tree's roots (an unknown environment, no such overlay)."""
    relative = path.strip("/").removeprefix("gitops/envs/")
    if relative == path.strip("/"):
        return None
    return relative if relative in roots() else None


def cluster_roots(env: str | None = None) -> tuple[str, ...]:
    """The overlay roots of the tree (of `env` only, if given): each folder
    `gitops/envs/<env>/clusters/<cluster>` with a kustomization.yaml, sorted."""
    found = []
    for environment in ENVIRONMENTS if env is None else (env,):
        folder = GITOPS_DIR / "envs" / environment / CLUSTERS
        if folder.is_dir():
            found += [
                cluster_root(environment, child.name)
                for child in sorted(folder.iterdir())
                if (child / "kustomization.yaml").is_file()
            ]
    return tuple(found)


def roots() -> tuple[str, ...]:
    """Every root of the tree: the environments, then the clusters' overlays."""
    return (*ENVIRONMENTS, *cluster_roots())


def root_project(env: str) -> str:
    """The project of the stack's root Application, which Pulumi creates
    (components/argocd/root_app.py, `root_project_name`, of the stack's environment): it admits
    only Argo CD kinds (`ARGOCD_KINDS`) in `ARGOCD_NAMESPACE`, from this repository."""
    return f"{environment_of(env)}-root"


def platform_path(env: str) -> str:
    """The folder the root's `platform` Application follows: the add-ons of the environment
    (`gitops/platform/envs/<env>`), for a cluster's overlay the cluster's values of them
    (`gitops/platform/clusters/<env>/<cluster>`, which includes the environment's: beside it, as
    kustomize refuses to include a folder that contains the including one)."""
    cluster = cluster_of(env)
    if cluster is None:
        return f"gitops/platform/envs/{env}"
    return f"gitops/platform/{CLUSTERS}/{environment_of(env)}/{cluster}"


class GitOpsError(Exception):
    """The tree cannot be rendered or checked (as opposed to a `Problem` found in it)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the tree.

    `source` is the repo-relative file the object was loaded from (or the rendered folder),
    `object` names it ("Deployment podinfo/frontend"), `field` is a JSON path into it
    ("spec.template.spec.containers[0].imagePullPolicyy") and `message` says what is wrong.
    """

    source: str
    object: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.object}: {self.field}: {self.message}"


@dataclass(frozen=True)
class RenderedObject:
    """A rendered manifest and the repo-relative file kustomize loaded it from.

    A field that a patch adds is reported against the file of the object it patches.
    """

    manifest: dict[str, Any]
    origin: str


# --- Repository --------------------------------------------------------------------------------


#: The repository every Application and AppProject in the tree points at (a placeholder until
#: you fork: change it in gitops/repository/repository.yaml). The Git ref each environment
#: follows is `environment_revision(env)`.
GITOPS_REPO_URL: str = tree_repository().url


def environment_revision(env: str) -> str:
    """The Git ref the Applications of `gitops/envs/<env>` follow (its `revision.yaml`); of a
    cluster's overlay root, the overlay's own `revision.yaml`."""
    try:
        return tree_revision(env, GITOPS_DIR)
    except ValueError as exc:
        raise GitOpsError(str(exc).replace(str(GITOPS_DIR.parent) + os.sep, "")) from exc


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path.resolve())


def _check_environment(env: str) -> None:
    if env not in ENVIRONMENTS:
        raise GitOpsError(f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}")


def _check_root(root: str) -> None:
    """An environment, or the overlay of one of its clusters that exists in the tree."""
    if cluster_of(root) is None:
        _check_environment(root)
        return
    _check_environment(environment_of(root))
    if root not in cluster_roots(environment_of(root)):
        raise GitOpsError(
            f"unknown root {root!r}: no {root_path(root)}/kustomization.yaml (a cluster's "
            f"overlay of {environment_of(root)}); roots: {', '.join(roots())}"
        )
