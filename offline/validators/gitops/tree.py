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


def root_project(env: str) -> str:
    """The project of the stack's root Application, which Pulumi creates
    (components/argocd/root_app.py, `root_project_name`): it admits only Argo CD kinds
    (`ARGOCD_KINDS`) in `ARGOCD_NAMESPACE`, from this repository."""
    return f"{env}-root"


def platform_path(env: str) -> str:
    """The folder the environment's `platform` Application follows: the add-ons of `env`."""
    return f"gitops/platform/envs/{env}"


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
    """The Git ref the Applications of `gitops/envs/<env>` follow (its `revision.yaml`)."""
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
