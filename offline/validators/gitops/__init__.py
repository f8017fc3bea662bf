"""Render and validate the GitOps tree (`gitops/`) offline, the way Argo CD will see it.

Argo CD syncs `gitops/envs/<env>` (the app-of-apps of one environment) and, through the
Applications found there, `gitops/apps/<app>/overlays/<env>` and `gitops/platform/envs/<env>`,
whose Applications install pinned Helm charts (the platform add-ons). This module renders those
folders with kustomize, the charts with the pinned Helm from `upstream/charts/` (charts.py), and
checks every object:

- Argo CD kinds against the CRD schemas in `upstream/argocd/crds` (plus a walk that rejects keys
  the schema does not list, which the CRDs alone would accept);
- everything else against the strict Kubernetes schemas shipped by `kubernetes-validate`;
- the platform rules in `object_rules`, `environment_rules` and `addon_problems` (the add-ons'
  project `platform` admits what their charts render, and no more);
- each chart's values against the chart (`chart_problems`: a value no template reads);
- that the add-ons agree with the stack (`platform_problems`: CSI region, datastores and switch,
  the CSR approver's node names and addresses);
- that the environment's stack and the tree follow the same Git ref (`revision_problems`): the
  root Application's `targetRevision` (the stack's `gitops.revision`) is the `targetRevision` of
  every Application the environment creates from this repository;
- that Argo CD applies every object at all (`exclusion_problems`): no object of a group and
  kind that argocd-cm's `resource.exclusions` (or `resource.inclusions`) leaves out, which Argo
  CD would silently drop from its Application's target.

Where this package says `env`, it takes a *root* (tree.py): an environment (`prod`), or the
overlay of one of the environment's other clusters (`prod/clusters/prod-b`: the root its stack's
`gitops.path` names, `gitops/envs/prod/clusters/prod-b`), checked against that cluster's stack
file (`Pulumi.prod-b.yaml`).

Run `python -m offline.validators.gitops --kubernetes-version v1.36.2` to check every environment
and overlay.
"""

from __future__ import annotations

from .addons import addon_applications, addon_problems
from .charts import HelmSource, helm_sources
from .cli import main
from .exclusions import (
    ArgoCdConfigMap,
    default_argocd_cm,
    exclusion_problems,
    release_argocd_cm,
    values_argocd_cm,
)
from .platform import platform_problems
from .rendering import (
    _local_source_path,
    _render_environment,
    _sources,
    folder_namespaces,
    kubectl_path,
    prefetch_environment,
    render,
    render_environment,
    render_with_origins,
)
from .revisions import StackRevision, revision_problems, stack_revision
from .rules import environment_rules, image_tag_problem, object_rules, projects_of
from .schemas import crd_schema, describe, json_path, schema_version, validate_manifest
from .stack import (
    StackNode,
    StackPlatform,
    platform_from_values,
    stack_kubernetes_version,
    stack_platform,
)
from .tree import (
    ARGOCD_API_VERSION,
    ARGOCD_KINDS,
    CLUSTER_SCOPED_KINDS,
    CLUSTERS,
    ENVIRONMENTS,
    GITOPS_DIR,
    GITOPS_REPO_URL,
    IN_CLUSTER_SERVER,
    PLATFORM_PROJECT,
    REPO_ROOT,
    STACK_REVISION_KEY,
    STACKS_DIR,
    GitOpsError,
    Problem,
    RenderedObject,
    cluster_of,
    cluster_root,
    cluster_roots,
    environment_of,
    environment_revision,
    platform_path,
    root_of_path,
    root_path,
    root_project,
    roots,
    stack_of,
)
from .validate import chart_problems, validate_environment, validate_path
from .versions import app_version_file, app_versions, set_app_version

__all__ = [
    "ARGOCD_API_VERSION",
    "ARGOCD_KINDS",
    "CLUSTERS",
    "CLUSTER_SCOPED_KINDS",
    "ENVIRONMENTS",
    "GITOPS_DIR",
    "GITOPS_REPO_URL",
    "IN_CLUSTER_SERVER",
    "PLATFORM_PROJECT",
    "REPO_ROOT",
    "STACKS_DIR",
    "STACK_REVISION_KEY",
    "ArgoCdConfigMap",
    "GitOpsError",
    "HelmSource",
    "Problem",
    "RenderedObject",
    "StackNode",
    "StackPlatform",
    "StackRevision",
    "_local_source_path",
    "_render_environment",
    "_sources",
    "addon_applications",
    "addon_problems",
    "app_version_file",
    "app_versions",
    "chart_problems",
    "cluster_of",
    "cluster_root",
    "cluster_roots",
    "crd_schema",
    "default_argocd_cm",
    "describe",
    "environment_of",
    "environment_revision",
    "environment_rules",
    "exclusion_problems",
    "folder_namespaces",
    "helm_sources",
    "image_tag_problem",
    "json_path",
    "kubectl_path",
    "main",
    "object_rules",
    "platform_from_values",
    "platform_path",
    "platform_problems",
    "prefetch_environment",
    "projects_of",
    "release_argocd_cm",
    "render",
    "render_environment",
    "render_with_origins",
    "revision_problems",
    "root_of_path",
    "root_path",
    "root_project",
    "roots",
    "schema_version",
    "set_app_version",
    "stack_kubernetes_version",
    "stack_of",
    "stack_platform",
    "stack_revision",
    "validate_environment",
    "validate_manifest",
    "validate_path",
    "values_argocd_cm",
]
