"""Render and validate the GitOps tree (`gitops/`) offline, the way Argo CD will see it.

Argo CD syncs `gitops/envs/<env>` (the app-of-apps of one environment) and, through the
Applications found there, `gitops/apps/<app>/overlays/<env>`. This module renders those folders
with kustomize and checks every object:

- Argo CD kinds against the CRD schemas in `upstream/argocd/crds` (plus a walk that rejects keys
  the schema does not list, which the CRDs alone would accept);
- everything else against the strict Kubernetes schemas shipped by `kubernetes-validate`;
- the platform rules in `object_rules` and `environment_rules`;
- that the environment's stack and the tree follow the same Git ref (`revision_problems`): the
  root Application's `targetRevision` (the stack's `gitops.revision`) is the `targetRevision` of
  every Application the environment creates from this repository.

Run `python -m offline.validators.gitops --kubernetes-version v1.36.2` to check every environment.
"""

from __future__ import annotations

from .cli import main
from .rendering import (
    _local_source_path,
    _render_environment,
    _sources,
    kubectl_path,
    prefetch_environment,
    render,
    render_environment,
    render_with_origins,
)
from .revisions import StackRevision, revision_problems, stack_revision
from .rules import environment_rules, image_tag_problem, object_rules
from .schemas import crd_schema, describe, json_path, schema_version, validate_manifest
from .tree import (
    ARGOCD_API_VERSION,
    ARGOCD_KINDS,
    CLUSTER_SCOPED_KINDS,
    ENVIRONMENTS,
    GITOPS_DIR,
    GITOPS_REPO_URL,
    IN_CLUSTER_SERVER,
    REPO_ROOT,
    STACK_REVISION_KEY,
    STACKS_DIR,
    GitOpsError,
    Problem,
    RenderedObject,
    environment_revision,
)
from .validate import validate_environment, validate_path
from .versions import app_version_file, app_versions, set_app_version

__all__ = [
    "ARGOCD_API_VERSION",
    "ARGOCD_KINDS",
    "CLUSTER_SCOPED_KINDS",
    "ENVIRONMENTS",
    "GITOPS_DIR",
    "GITOPS_REPO_URL",
    "IN_CLUSTER_SERVER",
    "REPO_ROOT",
    "STACKS_DIR",
    "STACK_REVISION_KEY",
    "GitOpsError",
    "Problem",
    "RenderedObject",
    "StackRevision",
    "_local_source_path",
    "_render_environment",
    "_sources",
    "app_version_file",
    "app_versions",
    "crd_schema",
    "describe",
    "environment_revision",
    "environment_rules",
    "image_tag_problem",
    "json_path",
    "kubectl_path",
    "main",
    "object_rules",
    "prefetch_environment",
    "render",
    "render_environment",
    "render_with_origins",
    "revision_problems",
    "schema_version",
    "set_app_version",
    "stack_revision",
    "validate_environment",
    "validate_manifest",
    "validate_path",
]
