"""Helm sources of Applications (`spec.source.chart`): rendered from the vendored chart
(`upstream/charts/<chart>`, which must be the version the Application pins) with the pinned Helm
of helm_render.py, the way Argo CD's repo-server renders them, and their values checked against
the chart.

What Argo CD v3.4.4 does, and so what this does (argoproj/argo-cd):
- release name `helm.releaseName`, else the Application's name; namespace `helm.namespace`, else
  the destination namespace; Kubernetes version `helm.kubeVersion`, else the cluster's
  (`reposerver/repository/repository.go`, `helmTemplate`);
- values: `helm.valuesObject` when set, else the YAML text `helm.values`
  (`pkg/apis/application/v1alpha1/values.go`, `ValuesYAML`); value files and parameters are
  not followed here (`HelmSource.unsupported`);
- CRDs are included unless `helm.skipCrds`; Helm test hooks are not applied
  (docs/user-guide/helm.md, "Helm Hooks": `test-success`, `test-failure` not supported), so
  tests are left out. The CRDs of a chart's `crds/` folders (its own and its enabled
  subcharts') are not rendered here: Helm copies those files into the output as they are, never
  templated (helm/helm v3.17.2 `pkg/action/action.go`, `renderResources`: with `includeCrds`,
  each of `ch.CRDObjects()` is written out as its file's bytes), so `chart_crds` reads them from
  the vendored chart instead, and the checks count them (the project must admit
  CustomResourceDefinitions) without parsing, copying and validating megabytes per render
  (kube-prometheus-stack's are 4.4 MB: they are the files the validators validate its kinds
  against, schemas.py);
- each rendered object then gets the destination namespace if it is namespaced and has none, and
  loses its namespace if it is cluster-scoped (`controller/state.go`, `DeduplicateTargetObjects`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# helm_render imports this package: refer to its names at call time, not at import.
from ... import parsed
from .. import helm_render, helm_values
from .schemas import CrdFile, crd_file, describe
from .tree import CLUSTER_SCOPED_KINDS, Problem, RenderedObject, _relative

#: `spec.source.helm` settings the offline render follows; any other one that changes the render
#: is reported (`HelmSource.unsupported`) instead of being silently ignored.
FOLLOWED_HELM_KEYS = frozenset(
    {"releaseName", "valuesObject", "values", "namespace", "kubeVersion", "skipCrds", "skipTests"}
)
#: Settings that do not change what is rendered.
INERT_HELM_KEYS = frozenset({"passCredentials", "skipSchemaValidation", "ignoreMissingValueFiles"})


@dataclass(frozen=True, eq=False)
class HelmSource:
    """One Helm chart source of an Application, as Argo CD will render it."""

    application: str
    """The Application's name (`metrics-server`)."""
    field: str
    """Where the source is in the Application: `spec.source` or `spec.sources[1]`."""
    repo_url: str
    chart: str
    version: str
    release: str
    namespace: str
    values: dict[str, Any]
    values_field: str
    """Where the values are: `spec.source.helm.valuesObject` (or `.values`)."""
    kubernetes_version: str | None
    """`helm.kubeVersion`: renders for that version instead of the cluster's."""
    include_crds: bool
    unsupported: tuple[str, ...]
    """`helm.*` settings this check does not follow (value files, parameters)."""
    problems: tuple[str, ...] = ()
    """What is wrong with the source itself (`helm.values` that is not a YAML mapping)."""

    @property
    def label(self) -> str:
        return f"Application {self.application}"

    @property
    def key(self) -> str:
        """The key of its objects in a rendered environment."""
        return f"chart {self.chart} {self.version} (Application {self.application})"


def source_field(app: dict[str, Any], index: int) -> str:
    """`spec.source` for the single source, `spec.sources[i]` in a multi-source Application."""
    spec = app.get("spec") or {}
    return "spec.source" if spec.get("source") and index == 0 else f"spec.sources[{index}]"


def helm_sources(app: dict[str, Any]) -> list[HelmSource]:
    """The Helm chart sources (`chart` set) of an Application, in the order of its sources."""
    spec = app.get("spec") or {}
    sources = list(spec.get("sources") or [])
    if spec.get("source"):
        sources.insert(0, spec["source"])
    name = str((app.get("metadata") or {}).get("name", ""))
    destination = str((spec.get("destination") or {}).get("namespace") or "")
    found = []
    for index, source in enumerate(sources):
        if not isinstance(source, dict) or not source.get("chart"):
            continue
        at = source_field(app, index)
        helm = source.get("helm") or {}
        values, values_field, problems = _values(helm, at)
        unsupported = tuple(
            sorted(k for k in helm if k not in FOLLOWED_HELM_KEYS | INERT_HELM_KEYS and helm[k])
        )
        found.append(
            HelmSource(
                application=name,
                field=at,
                repo_url=str(source.get("repoURL", "")),
                chart=str(source["chart"]),
                version=str(source.get("targetRevision", "")),
                release=str(helm.get("releaseName") or name),
                namespace=str(helm.get("namespace") or destination or "default"),
                values=values,
                values_field=values_field,
                kubernetes_version=helm.get("kubeVersion") or None,
                include_crds=not helm.get("skipCrds", False),
                unsupported=unsupported,
                problems=problems,
            )
        )
    return found


def _values(helm: dict[str, Any], at: str) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    if helm.get("valuesObject") is not None:
        values = helm["valuesObject"]
        where = f"{at}.helm.valuesObject"
    else:
        try:
            values = yaml.safe_load(str(helm.get("values") or "")) or {}
        except yaml.YAMLError as exc:
            return {}, f"{at}.helm.values", (f"not YAML: {exc}",)
        where = f"{at}.helm.values"
    if not isinstance(values, dict):
        return {}, where, (f"must be a mapping of values, found {type(values).__name__}",)
    return values, where, ()


def render_key(source: HelmSource, kubernetes_version: str) -> tuple[Any, ...]:
    """The helm_render key of the source's render; HelmError if the chart is not vendored at the
    version the source pins. It renders the templates only: the CRDs of `crds/` folders, which
    Helm would append as they are, are `chart_crds(source)`."""
    chart_dir = helm_render.vendored_chart(source.chart, source.version, source.label)
    return helm_render.chart_render_key(
        source.label,
        chart_dir,
        source.release,
        source.namespace,
        source.values,
        source.kubernetes_version or kubernetes_version,
        False,
    )


def chart_crds(source: HelmSource) -> list[CrdFile]:
    """The CRDs Argo CD applies for the source besides its rendered templates: every file of
    the `crds/` folder of the vendored chart and of each subchart its values enable (Helm's
    `CRDObjects`, after dependencies whose `condition` is false were dropped), unless
    `helm.skipCrds`. Empty for a chart that is not vendored (source_problems says so)."""
    if not source.include_crds:
        return []
    chart_dir = helm_render.CHARTS_DIR / source.chart
    if not (chart_dir / "Chart.yaml").is_file():
        return []
    return list(_chart_crds(chart_dir, json.dumps(source.values, sort_keys=True)))


@lru_cache(maxsize=32)
def _chart_crds(chart_dir: Path, values_json: str) -> tuple[CrdFile, ...]:
    layers = [json.loads(values_json), helm_values.chart_defaults(chart_dir)]
    return tuple(_crds_of(chart_dir, layers))


def _crds_of(chart_dir: Path, layers: list[Any]) -> list[CrdFile]:
    """The `crds/` files of a chart and of its enabled dependencies, depth first. `layers`: the
    chart's values, most specific first (the Application's, then the chart's defaults)."""
    folder = chart_dir / "crds"
    found = [crd_file(path) for path in sorted(folder.rglob("*")) if _is_crd_file(path)]
    chart = yaml.load((chart_dir / "Chart.yaml").read_text(), Loader=parsed.LOADER) or {}
    for dependency in chart.get("dependencies") or []:
        name = str(dependency["name"])
        key = str(dependency.get("alias") or name)
        if not _enabled(dependency, layers):
            continue
        subchart = chart_dir / "charts" / name
        if (subchart / "Chart.yaml").is_file():
            below = [layer.get(key) for layer in layers if isinstance(layer, dict)]
            found += _crds_of(subchart, [layer for layer in below if isinstance(layer, dict)])
    return found


def _is_crd_file(path: Path) -> bool:
    # Helm loads `crds/` files with these extensions as CRDs (pkg/chart/chart.go, CRDObjects).
    return path.is_file() and path.suffix in {".yaml", ".yml", ".json"}


def _enabled(dependency: dict[str, Any], layers: list[Any]) -> bool:
    """A dependency's `condition` as Helm reads it (pkg/chartutil/dependencies.go,
    processDependencyConditions): the first of its comma-separated value paths that holds a
    boolean decides; none of them set leaves it enabled. (`tags` are not used by the vendored
    charts.)"""
    for path in str(dependency.get("condition") or "").split(","):
        parts = [part for part in path.strip().split(".") if part]
        for layer in layers:  # the first layer that sets the path decides, as coalescing does
            value: Any = layer
            for part in parts:
                value = value.get(part) if isinstance(value, dict) else None
            if parts and value is not None:
                if isinstance(value, bool):
                    return value
                break
    return True


def render(source: HelmSource, kubernetes_version: str) -> list[RenderedObject]:
    """The objects Argo CD would apply for the source, each with the chart template it comes
    from (`upstream/charts/metrics-server/templates/deployment.yaml`). helm_render.HelmError if
    the chart is not vendored at that version or does not render."""
    key = render_key(source, kubernetes_version)
    chart_dir = helm_render.CHARTS_DIR / source.chart
    rendered = []
    for template, manifest in helm_render.render_chart(key):
        _apply_namespace(manifest, source.namespace)
        rendered.append(RenderedObject(manifest=manifest, origin=_origin(chart_dir, template)))
    return rendered


def _apply_namespace(manifest: dict[str, Any], namespace: str) -> None:
    """What Argo CD does before it applies an object (`DeduplicateTargetObjects`)."""
    metadata = manifest.setdefault("metadata", {})
    if manifest.get("kind") in CLUSTER_SCOPED_KINDS:
        metadata.pop("namespace", None)
    elif not metadata.get("namespace"):
        metadata["namespace"] = namespace


def _origin(chart_dir: Path, template: str) -> str:
    """`metrics-server/templates/x.yaml` (Helm's `# Source:`) as the vendored file's path."""
    _, _, inside = template.partition("/")
    return _relative(chart_dir / inside) if inside else _relative(chart_dir)


def source_problems(
    item: RenderedObject, source: HelmSource, kubernetes_version: str, folder: str
) -> list[Problem]:
    """What is wrong with one Helm source of the Application `item`: a chart that is not vendored
    at the pinned version, settings not followed, values the chart never reads, a render that
    fails. `folder` is the rendered folder the Application comes from (its patches may have set
    the values)."""
    name = describe(item.manifest)

    def problem(at: str, message: str) -> Problem:
        return Problem(item.origin, name, at, message)

    problems = [problem(source.values_field, message) for message in source.problems]
    problems += [
        problem(
            f"{source.field}.helm.{key}",
            "not followed by the offline check: give the values in helm.valuesObject",
        )
        for key in source.unsupported
    ]
    try:
        key = render_key(source, kubernetes_version)
    except helm_render.HelmError as exc:
        message = str(exc).removeprefix(f"{source.label}: ")
        hint = "; vendor it (upstream/refresh.py, docs/platform.md) or pin the vendored version"
        return [*problems, problem(f"{source.field}.targetRevision", message + hint)]
    chart = f"{source.chart} chart {source.version}"
    for path in helm_values.ignored_values(helm_render.CHARTS_DIR / source.chart, source.values):
        problems.append(
            problem(
                f"{source.values_field}.{path}",
                f"not a value of the {chart} and no template reads it; Helm would ignore it "
                f"(set in {item.origin} or a patch of {folder})",
            )
        )
    try:
        helm_render.render_chart(key)
    except helm_render.HelmError as exc:
        problems.append(problem(source.values_field, str(exc).removeprefix(f"{source.label}: ")))
    return problems
