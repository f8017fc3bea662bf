"""Rules for the platform add-ons: the Applications of `gitops/platform/envs/<env>` and their
AppProject `platform`, as Argo CD admits them at sync time, and the project no wider than the
rendered add-ons need."""

from __future__ import annotations

from typing import Any

from . import charts, tree
from .rules import _admission_problems, _group, projects_of
from .schemas import describe
from .tree import CLUSTER_SCOPED_KINDS, IN_CLUSTER_SERVER, PLATFORM_PROJECT, Problem, RenderedObject


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
        problems += _addon_problems(item, project_spec, rendered)
    if project is not None:
        problems += _project_width_problems(project, addons, rendered)
    return problems


def _addon_problems(
    item: RenderedObject, project_spec: dict[str, Any], rendered: dict[str, list[RenderedObject]]
) -> list[Problem]:
    app = item.manifest
    name = describe(app)
    spec = app.get("spec") or {}
    destination = spec.get("destination") or {}
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(item.origin, name, field, message))

    if spec.get("project") != PLATFORM_PROJECT:
        add("spec.project", f"must be {PLATFORM_PROJECT!r}, found {spec.get('project')!r}")
    if destination.get("server") != IN_CLUSTER_SERVER:
        add("spec.destination.server", f"must be {IN_CLUSTER_SERVER!r}")
    sources = [spec["source"]] if spec.get("source") else list(spec.get("sources") or [])
    helm = {source.field: source for source in charts.helm_sources(app)}
    repos = project_spec.get("sourceRepos") or []
    for index, source in enumerate(sources):
        field = charts.source_field(app, index)
        if field not in helm:
            add(field, "an add-on is a Helm chart: set repoURL, chart and a pinned targetRevision")
            continue
        if source.get("repoURL") not in repos:
            add(f"{field}.repoURL", f"not a sourceRepos entry of project {PLATFORM_PROJECT!r}")
        for obj in rendered.get(helm[field].key, []):
            problems += _admission_problems(obj, destination, project_spec)
    destinations = {
        (d.get("server"), d.get("namespace")) for d in project_spec.get("destinations") or []
    }
    if (destination.get("server"), destination.get("namespace")) not in destinations:
        add("spec.destination.namespace", f"not a destination of project {PLATFORM_PROJECT!r}")
    return problems


def _project_width_problems(
    project: RenderedObject, addons: list[RenderedObject], rendered: dict[str, list[RenderedObject]]
) -> list[Problem]:
    """Entries of the project that no add-on uses: a repository, a destination, a kind."""
    spec = project.manifest.get("spec") or {}
    name = describe(project.manifest)
    sources = [s for item in addons for s in charts.helm_sources(item.manifest)]
    used_repos = {source.repo_url for source in sources}
    used_destinations = {
        (d.get("server"), d.get("namespace"))
        for item in addons
        for d in [(item.manifest.get("spec") or {}).get("destination") or {}]
    }
    objects = [obj.manifest for source in sources for obj in rendered.get(source.key, [])]
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
