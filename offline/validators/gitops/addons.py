"""Rules for the platform add-ons: the Applications of `gitops/platform/envs/<env>` and their
AppProject `platform`, as Argo CD admits them at sync time, and the project no wider than the
rendered add-ons need.

An add-on is a pinned upstream Helm chart, or a folder `gitops/platform/<name>/envs/<env>` of
this repository at the environment's ref (the monitoring configuration: ServiceMonitors,
PrometheusRules, dashboards), whose objects the project admits like a chart's. A chart's CRDs
(its `crds/` folders, `charts.chart_crds`) count among what it applies: the project must admit
CustomResourceDefinitions, and one larger than a client-side apply can annotate needs
`ServerSideApply=true`."""

from __future__ import annotations

import re
from typing import Any

from . import charts, tree
from .rendering import _local_source_path
from .rules import _admission_problems, _group, application_checks, projects_of
from .schemas import describe
from .tree import (
    CLUSTER_SCOPED_KINDS,
    GITOPS_REPO_URL,
    PLATFORM_PROJECT,
    Problem,
    RenderedObject,
    _relative,
    environment_revision,
)

CRD_API_VERSION = "apiextensions.k8s.io/v1"
#: The most a client-side apply can store: Argo CD's `kubectl apply` keeps the whole object in
#: the `kubectl.kubernetes.io/last-applied-configuration` annotation, and the API server refuses
#: annotations over 256 KiB in total (kubernetes apimachinery
#: `pkg/api/validation/objectmeta.go`, `TotalAnnotationSizeLimitB`).
ANNOTATION_LIMIT = 256 * 1024
SERVER_SIDE_APPLY = "ServerSideApply=true"


def local_addon_path(env: str) -> str:
    """The folders of this repository a platform add-on may follow: `gitops/platform/<name>/
    envs/<env>` (a regular expression), never the platform folder itself; of a cluster's overlay
    root (tree.py) also the cluster's own, `gitops/platform/<name>/clusters/<env>/<cluster>`."""
    name = rf"gitops/platform/(?!envs/|{tree.CLUSTERS}/)[a-z0-9-]+"
    environment = re.escape(tree.environment_of(env))
    cluster = tree.cluster_of(env)
    if cluster is None:
        return rf"{name}/envs/{environment}"
    return rf"{name}/(envs/{environment}|{tree.CLUSTERS}/{environment}/{re.escape(cluster)})"


def local_addon_paths(env: str) -> str:
    """`local_addon_path` in words, for messages."""
    environment = tree.environment_of(env)
    cluster = tree.cluster_of(env)
    if cluster is None:
        return f"gitops/platform/<name>/envs/{environment}"
    return (
        f"gitops/platform/<name>/envs/{environment} or "
        f"gitops/platform/<name>/{tree.CLUSTERS}/{environment}/{cluster}"
    )


def _crd_objects(source: charts.HelmSource) -> list[RenderedObject]:
    """The CRDs of a Helm source's `crds/` folders as the objects Argo CD applies (their name
    and kind: what the project admits), each from its vendored file."""
    return [
        RenderedObject(
            manifest={
                "apiVersion": CRD_API_VERSION,
                "kind": "CustomResourceDefinition",
                "metadata": {"name": crd.name},
            },
            origin=_relative(crd.path),
        )
        for crd in charts.chart_crds(source)
    ]


def _applied(
    source: charts.HelmSource, rendered: dict[str, list[RenderedObject]]
) -> list[RenderedObject]:
    """What Argo CD applies for a Helm source: its rendered templates and its charts' CRDs."""
    return [*rendered.get(source.key, []), *_crd_objects(source)]


def addon_applications(env: str, rendered: dict[str, list[RenderedObject]]) -> list[RenderedObject]:
    """The Applications of the environment's platform folder (none if it has no platform)."""
    folder = rendered.get(tree.platform_path(env), [])
    return [item for item in folder if item.manifest.get("kind") == "Application"]


def addon_problems(env: str, rendered: dict[str, list[RenderedObject]]) -> list[Problem]:
    """Each add-on Application is in project `platform`, installs pinned Helm charts only (from
    a repository of the project, into one of its destinations), and the project admits every
    object its charts render; the project admits nothing more than they need."""
    addons = addon_applications(env, rendered)
    if not addons:
        return []
    folder = tree.platform_path(env)
    project = projects_of({folder: rendered.get(folder, [])}).get(PLATFORM_PROJECT)
    problems: list[Problem] = []
    if project is None:
        problems.append(
            Problem(folder, f"AppProject argocd/{PLATFORM_PROJECT}", "metadata.name", "missing")
        )
        project_spec: dict[str, Any] = {}
    else:
        project_spec = project.manifest.get("spec") or {}
    for item in addons:
        problems += _addon_problems(env, item, project_spec, rendered)
    if project is not None:
        problems += _project_width_problems(project, addons, rendered)
    return problems


def _addon_problems(
    env: str,
    item: RenderedObject,
    project_spec: dict[str, Any],
    rendered: dict[str, list[RenderedObject]],
) -> list[Problem]:
    app = item.manifest
    spec, problems, add = application_checks(item, PLATFORM_PROJECT)
    destination = spec.get("destination") or {}
    sources = [spec["source"]] if spec.get("source") else list(spec.get("sources") or [])
    helm = {source.field: source for source in charts.helm_sources(app)}
    repos = project_spec.get("sourceRepos") or []
    for index, source in enumerate(sources):
        field = charts.source_field(app, index)
        if field in helm:
            applied = _applied(helm[field], rendered)
            problems += _server_side_apply_problems(item, helm[field])
        elif source.get("repoURL") == GITOPS_REPO_URL and source.get("path"):
            applied = rendered.get(_local_source_path(source) or "", [])
            for at, message in _local_source_problems(env, source, field):
                add(at, message)
        else:
            add(
                field,
                "an add-on is a Helm chart (repoURL, chart and a pinned targetRevision) or a "
                f"folder gitops/platform/<name>/envs/<env> of {GITOPS_REPO_URL}",
            )
            continue
        if source.get("repoURL") not in repos:
            add(f"{field}.repoURL", f"not a sourceRepos entry of project {PLATFORM_PROJECT!r}")
        for obj in applied:
            problems += _admission_problems(obj, destination, project_spec)
    destinations = {
        (d.get("server"), d.get("namespace")) for d in project_spec.get("destinations") or []
    }
    if (destination.get("server"), destination.get("namespace")) not in destinations:
        add("spec.destination.namespace", f"not a destination of project {PLATFORM_PROJECT!r}")
    return problems


def _local_source_problems(env: str, source: dict[str, Any], field: str) -> list[tuple[str, str]]:
    """A folder of this repository: `gitops/platform/<name>/envs/<env>` (or the cluster's own,
    `local_addon_path`) at the root's ref (the ref the root and the platform Application follow,
    revisions.py: a cluster's overlay may follow one of its own)."""
    found = []
    path = str(source.get("path", "")).strip("/")
    if not re.fullmatch(local_addon_path(env), path):
        found.append((f"{field}.path", f"must be {local_addon_paths(env)}, found {path!r}"))
    revision = environment_revision(env)
    if source.get("targetRevision") != revision:
        found.append(
            (
                f"{field}.targetRevision",
                f"must be {revision!r} ({tree.root_path(env)}/revision.yaml), found "
                f"{source.get('targetRevision')!r} (set by the Application's patch in "
                f"{tree.platform_path(env)})",
            )
        )
    return found


def _server_side_apply_problems(item: RenderedObject, source: charts.HelmSource) -> list[Problem]:
    """A chart whose CRDs a client-side apply cannot annotate needs ServerSideApply=true."""
    options = ((item.manifest.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions") or []
    if SERVER_SIDE_APPLY in options:
        return []
    large = [crd for crd in charts.chart_crds(source) if crd.size > ANNOTATION_LIMIT]
    if not large:
        return []
    names = ", ".join(f"{crd.name} ({crd.size // 1024} KiB)" for crd in large)
    message = (
        f"the {source.chart} chart applies CRDs larger than the {ANNOTATION_LIMIT // 1024} KiB "
        f"a client-side apply can keep in its last-applied annotation ({names}): Argo CD would "
        f"fail to sync them; add {SERVER_SIDE_APPLY}"
    )
    return [Problem(item.origin, describe(item.manifest), "spec.syncPolicy.syncOptions", message)]


def _project_width_problems(
    project: RenderedObject, addons: list[RenderedObject], rendered: dict[str, list[RenderedObject]]
) -> list[Problem]:
    """Entries of the project that no add-on uses: a repository, a destination, a kind."""
    spec = project.manifest.get("spec") or {}
    name = describe(project.manifest)
    sources = [s for item in addons for s in charts.helm_sources(item.manifest)]
    local = [
        path
        for item in addons
        for source in _sources_of(item.manifest)
        if source.get("repoURL") == GITOPS_REPO_URL
        and (path := _local_source_path(source)) is not None
    ]
    used_repos = {source.repo_url for source in sources} | ({GITOPS_REPO_URL} if local else set())
    used_destinations = {
        (d.get("server"), d.get("namespace"))
        for item in addons
        for d in [(item.manifest.get("spec") or {}).get("destination") or {}]
    }
    # A chart may also place objects in namespaces of their own (a subchart's
    # `namespaceOverride`, as kube-prometheus-stack's node-exporter): those are used too.
    used_destinations |= {
        (((item.manifest.get("spec") or {}).get("destination") or {}).get("server"), namespace)
        for item in addons
        for source in charts.helm_sources(item.manifest)
        for obj in _applied(source, rendered)
        if (namespace := (obj.manifest.get("metadata") or {}).get("namespace"))
    }
    objects = [obj.manifest for source in sources for obj in _applied(source, rendered)]
    objects += [obj.manifest for path in local for obj in rendered.get(path, [])]
    used_kinds = {(_group(str(o.get("apiVersion", ""))), str(o.get("kind", ""))) for o in objects}
    problems = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(project.origin, name, field, message))

    for index, repo in enumerate(spec.get("sourceRepos") or []):
        if repo not in used_repos:
            add(f"spec.sourceRepos[{index}]", f"{repo!r}: no add-on installs a chart from it")
    for index, entry in enumerate(spec.get("destinations") or []):
        if (entry.get("server"), entry.get("namespace")) not in used_destinations:
            add(
                f"spec.destinations[{index}]",
                f"{entry.get('namespace')!r}: no add-on deploys there",
            )
    for whitelist, cluster_scoped in (
        ("clusterResourceWhitelist", True),
        ("namespaceResourceWhitelist", False),
    ):
        for index, rule in enumerate(spec.get(whitelist) or []):
            group, kind = rule.get("group"), rule.get("kind")
            if "*" in (group, kind) or (kind in CLUSTER_SCOPED_KINDS) != cluster_scoped:
                add(f"spec.{whitelist}[{index}]", f"{group}/{kind}: name one kind of this scope")
            elif (group, kind) not in used_kinds:
                add(
                    f"spec.{whitelist}[{index}]",
                    f"{group or 'core'}/{kind}: no add-on renders one; remove it (the project "
                    "admits exactly what the rendered charts need)",
                )
    return problems


def _sources_of(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app.get("spec") or {}
    sources = list(spec.get("sources") or [])
    if spec.get("source"):
        sources.insert(0, spec["source"])
    return [source for source in sources if isinstance(source, dict)]
