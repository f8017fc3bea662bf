"""Argo CD's resource exclusions and inclusions (argocd-cm `resource.exclusions`,
`resource.inclusions`) against every object the environment's Applications render: an object of
a group and kind Argo CD excludes is never applied, however valid it is.

What argo-cd v3.4.4 does (argoproj/argo-cd):
- `util/settings/settings.go`, `GetResourcesFilter`: the two keys of argocd-cm, each a YAML list
  of `{apiGroups, kinds, clusters}` (`util/settings/filtered_resource.go`, `FilteredResource`);
- `util/settings/resources_filter.go`, `IsExcludedResource`: its built-in exclusions
  (`coreExcludedResources`: the groups events.k8s.io and metrics.k8s.io, core Events,
  coordination.k8s.io Leases) and `resource.exclusions` exclude; then, when `resource.inclusions`
  has a rule for the cluster, whatever none of them includes is excluded too. A rule matches
  when its API groups (globs), kinds (exact, or `*`) and clusters (globs) each match or are empty
  (`FilteredResource.Match`; util/glob, gobwas/glob without separators);
- `controller/state.go`, `CompareAppState`: every target object whose group and kind are
  excluded for the destination's server is dropped from the target before the sync, with an
  `ExcludedResourceWarning` condition ("Resource <group>/<kind> <name> is excluded in the
  settings"). The Application syncs, and reports Synced, without it.

The argo-cd chart's default `resource.exclusions` (upstream/charts/argo-cd/values.yaml,
`configs.cm`) excludes Endpoints and EndpointSlices, Leases and the authorization review kinds:
an Endpoints object in the tree is never created.

The argocd-cm checked is the one the stack's argo-cd release renders (`release_argocd_cm`, what
the offline plan passes), or by default `values_argocd_cm`: the values of
components/argocd/values.py merged with the chart's defaults the way the chart's template does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from ... import parsed
from ...paths import UPSTREAM_DIR
from . import charts, tree
from .rendering import _local_source_path, _sources
from .rules import _group
from .schemas import describe
from .tree import IN_CLUSTER_SERVER, Problem, RenderedObject

ARGOCD_CM = "argocd-cm"
EXCLUSIONS_KEY = "resource.exclusions"
INCLUSIONS_KEY = "resource.inclusions"
ARGOCD_CHART_DIR = UPSTREAM_DIR / "charts" / "argo-cd"
ARGOCD_CM_TEMPLATE = "upstream/charts/argo-cd/templates/argocd-configs/argocd-cm.yaml"
VALUES_SOURCE = "components/argocd/values.py"
#: Argo CD's name for the cluster it runs in, as a destination's `name`.
IN_CLUSTER_NAME = "in-cluster"


@dataclass(frozen=True)
class FilteredResource:
    """One rule of `resource.exclusions` or `resource.inclusions`."""

    api_groups: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()

    def matches_cluster(self, cluster: str) -> bool:
        return not self.clusters or any(_glob(p).fullmatch(cluster) for p in self.clusters)

    def matches(self, group: str, kind: str, cluster: str) -> bool:
        groups = not self.api_groups or any(_glob(p).fullmatch(group) for p in self.api_groups)
        kinds = not self.kinds or any(k in ("*", kind) for k in self.kinds)
        return groups and kinds and self.matches_cluster(cluster)

    def __str__(self) -> str:
        parts = [
            f"{name} {', '.join(repr(v) for v in values)}"
            for name, values in (
                ("apiGroups", self.api_groups),
                ("kinds", self.kinds),
                ("clusters", self.clusters),
            )
            if values
        ]
        return "; ".join(parts) or "every resource"


#: argo-cd v3.4.4 util/settings/resources_filter.go, `coreExcludedResources`.
CORE_EXCLUSIONS = (
    FilteredResource(api_groups=("events.k8s.io", "metrics.k8s.io")),
    FilteredResource(api_groups=("",), kinds=("Event",)),
    FilteredResource(api_groups=("coordination.k8s.io",), kinds=("Lease",)),
)


@dataclass(frozen=True)
class ArgoCdConfigMap:
    """An argocd-cm's data and where it comes from (for the messages)."""

    data: Mapping[str, Any]
    origin: str
    """`upstream/charts/argo-cd/templates/argocd-configs/argocd-cm.yaml (Helm release argocd)`."""


@dataclass(frozen=True)
class ResourceFilter:
    exclusions: tuple[FilteredResource, ...] = ()
    inclusions: tuple[FilteredResource, ...] = ()

    def excluded_by(self, group: str, kind: str, cluster: str) -> str | None:
        """Why Argo CD excludes the kind on that cluster (None: it applies it), in the order
        of `IsExcludedResource`."""
        for rule in CORE_EXCLUSIONS:
            if rule.matches(group, kind, cluster):
                return f"excluded by Argo CD's built-in exclusions ({rule})"
        for rule in self.exclusions:
            if rule.matches(group, kind, cluster):
                return f"excluded by {EXCLUSIONS_KEY} in {ARGOCD_CM} ({rule})"
        if any(rule.matches(group, kind, cluster) for rule in self.inclusions):
            return None
        if any(rule.matches_cluster(cluster) for rule in self.inclusions):
            return f"not included by {INCLUSIONS_KEY} in {ARGOCD_CM}, which lists this cluster"
        return None


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """gobwas/glob without separators: `*` any text, `?` one character, `[...]` and `[!...]`
    classes, `{a,b}` alternatives, `\\` escapes the next character."""
    out: list[str] = []
    depth = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in pattern[index + 1 :]:
            end = pattern.index("]", index + 1)
            body = pattern[index + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append(f"[{'^' if negate else ''}{body.replace(chr(92), chr(92) * 2)}]")
            index = end
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        index += 1
    if depth:  # an unclosed `{`: gobwas/glob refuses the pattern, which then matches nothing
        return re.compile(r"(?!)")
    return re.compile("".join(out), re.DOTALL)


def _rules(text: Any, key: str) -> tuple[FilteredResource, ...]:
    """A `resource.*` value as Argo CD reads it (sigs.k8s.io/yaml into []FilteredResource);
    ValueError when it would refuse it (then every comparison fails)."""
    try:
        entries = yaml.load(str(text), Loader=parsed.LOADER) if text is not None else None
    except yaml.YAMLError as exc:
        raise ValueError(f"{key} is not YAML: {exc}") from exc
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ValueError(f"{key} must be a list of {{apiGroups, kinds, clusters}}")
    rules = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"{key}: {entry!r} is not a mapping of apiGroups, kinds, clusters")
        fields = {}
        for name in ("apiGroups", "kinds", "clusters"):
            values = entry.get(name) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"{key}: {name} of {entry!r} must be a list of strings")
            fields[name] = tuple(values)
        rules.append(FilteredResource(fields["apiGroups"], fields["kinds"], fields["clusters"]))
    return tuple(rules)


def resource_filter(config: ArgoCdConfigMap) -> ResourceFilter:
    """The filter an argocd-cm sets (ValueError when Argo CD could not read it)."""
    return ResourceFilter(
        exclusions=_rules(config.data.get(EXCLUSIONS_KEY), EXCLUSIONS_KEY),
        inclusions=_rules(config.data.get(INCLUSIONS_KEY), INCLUSIONS_KEY),
    )


# --- Where the argocd-cm comes from ------------------------------------------------------------


def argocd_cm_of(
    objects: Iterable[tuple[str, dict[str, Any]]], origin: str
) -> ArgoCdConfigMap | None:
    """The ConfigMap argocd-cm among rendered (template, object) pairs."""
    for template, obj in objects:
        metadata = obj.get("metadata") or {}
        if obj.get("kind") == "ConfigMap" and metadata.get("name") == ARGOCD_CM:
            return ArgoCdConfigMap(dict(obj.get("data") or {}), f"{template} ({origin})")
    return None


def release_argocd_cm(doc: dict[str, Any], kubernetes_version: str) -> ArgoCdConfigMap | None:
    """The argocd-cm the plan's argo-cd Helm release renders (the pinned Helm, the vendored
    chart, the release's values: helm_render, cached). None when the plan has no such release or
    it does not render (helm_render.release_problems reports why)."""
    from .. import helm_render  # which imports this package

    for resource in helm_render.releases(doc):
        if str(resource["inputs"].get("chart")) != "argo-cd":
            continue
        try:
            objects = helm_render.render_with_templates(resource, kubernetes_version)
        except helm_render.HelmError:
            return None
        label = f"Helm release {resource['name']}, values of {VALUES_SOURCE}"
        templates = ((f"upstream/charts/{t}", obj) for t, obj in objects)
        return argocd_cm_of(templates, label)
    return None


@lru_cache(maxsize=1)
def _chart_cm_defaults() -> dict[str, Any]:
    values = yaml.load((ARGOCD_CHART_DIR / "values.yaml").read_text(), Loader=parsed.LOADER)
    return dict(((values or {}).get("configs") or {}).get("cm") or {})


def values_argocd_cm(values: Mapping[str, Any], origin: str = VALUES_SOURCE) -> ArgoCdConfigMap:
    """The argocd-cm's data the chart renders from `values` (argo-cd chart
    templates/_helpers.tpl, `argo-cd.config.cm`): `configs.cm` over the chart's defaults (a null
    removes a default, as Helm merges values), less `create` and `annotations`, each value as a
    string, empty ones left out. The `url` preset is left out: only `resource.*` is read."""
    merged = dict(_chart_cm_defaults())
    for key, value in dict(((values.get("configs") or {}).get("cm")) or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    data = {}
    for key, value in merged.items():
        if key in ("create", "annotations") or value is None:
            continue
        text = _to_string(value)
        if text != "":
            data[key] = text
    return ArgoCdConfigMap(data, f"{ARGOCD_CM_TEMPLATE} (configs.cm of {origin} over the chart's)")


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=8)
def default_argocd_cm(env: str) -> ArgoCdConfigMap:
    """`values_argocd_cm` of components/argocd/values.py for `env` (its resource settings do not
    depend on the URL, the webhook, the notifications or the login); of a cluster's overlay root,
    for its environment."""
    from components.argocd.values import argocd_values

    environment = tree.environment_of(env)
    return values_argocd_cm(argocd_values(environment, "https://argocd.invalid"))  # type: ignore[arg-type]


# --- The check ---------------------------------------------------------------------------------


def _cluster(application: dict[str, Any]) -> str:
    destination = (application.get("spec") or {}).get("destination") or {}
    if destination.get("server"):
        return str(destination["server"])
    name = str(destination.get("name") or "")
    return IN_CLUSTER_SERVER if name in ("", IN_CLUSTER_NAME) else name


def _applied(
    env: str, rendered: dict[str, list[RenderedObject]]
) -> Iterator[tuple[str, str, list[RenderedObject]]]:
    """(Application, destination server, objects) for each source Argo CD renders: the
    environment's folder (the program's root Application), and each source of every
    Application of the tree, a folder of this repository or a Helm chart."""
    root = tree._relative(tree.GITOPS_DIR / "envs" / env)
    yield f"Application argocd/root ({root})", IN_CLUSTER_SERVER, rendered.get(root, [])
    for items in list(rendered.values()):
        for item in items:
            app = item.manifest
            if app.get("kind") != "Application":
                continue
            name, cluster = describe(app), _cluster(app)
            for source in _sources(app):
                path = _local_source_path(source) if isinstance(source, dict) else None
                if path is not None:
                    yield f"{name} ({path})", cluster, rendered.get(path, [])
            for helm in charts.helm_sources(app):
                label = f"{name} (chart {helm.chart} {helm.version})"
                yield label, cluster, rendered.get(helm.key, [])


def exclusion_problems(
    env: str, rendered: dict[str, list[RenderedObject]], config: ArgoCdConfigMap
) -> list[Problem]:
    """Every object of the tree that Argo CD would drop from its Application's target: its
    group and kind are excluded (or not included) by the argocd-cm `config`."""
    try:
        filter_ = resource_filter(config)
    except ValueError as exc:
        return [
            Problem(
                config.origin,
                f"ConfigMap argocd/{ARGOCD_CM}",
                "data",
                f"{exc}: Argo CD could not read its resource filter and compares no Application",
            )
        ]
    problems = []
    seen: set[int] = set()
    for application, cluster, objects in _applied(env, rendered):
        for obj in objects:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            manifest = obj.manifest
            kind = str(manifest.get("kind", ""))
            group = _group(str(manifest.get("apiVersion", "")))
            why = filter_.excluded_by(group, kind, cluster)
            if why is None:
                continue
            problems.append(
                Problem(
                    obj.origin,
                    describe(manifest),
                    "kind",
                    f"Argo CD would not apply it: {why}; {application} drops it from its "
                    "target before every sync (ExcludedResourceWarning) and still reports "
                    f"Synced (argocd-cm: {config.origin})",
                )
            )
    return problems
