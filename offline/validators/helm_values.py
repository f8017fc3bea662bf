"""Catch misspelled Helm values before Helm silently ignores them.

The argo-cd chart ships no values schema, so a key the chart does not read (`server.replicaz`,
`configs.parms`) renders without complaint and the setting is simply lost. Its `values.yaml`
lists every key the templates read, so comparing our values against those defaults finds such
keys, except below maps the chart passes through as they are (see `is_free_form`).
`ignored_values` then spares the keys that a template reads although `values.yaml` omits them
(`.Values.a.b`, `index .Values "a" "b"`, in the chart's and its subcharts' templates).

`ignored_values(chart_dir, values)` works for any vendored chart: the Helm releases of the program
(helm_render.py) and the platform add-ons' Applications (gitops/charts.py) go through it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .. import parsed
from ..paths import ARGOCD_CHART_DIR

#: Maps whose keys are data, not chart settings, found by where they are.
#: - configs.cm, configs.params, configs.rbac: every entry becomes a key of the argocd-cm,
#:   argocd-cmd-params-cm and argocd-rbac-cm ConfigMaps (Argo CD's own settings, which the chart
#:   does not enumerate: `url`, `timeout.reconciliation.jitter`, `server.insecure`, ...).
#: - configs.secret.extra, configs.credentialTemplates, configs.repositories,
#:   configs.clusterCredentials, configs.gpg.keys: named entries the user chooses.
#: - redis-ha.redis.config: redis.conf directives passed to the Redis HA subchart.
#: - grafana.grafana.ini: kube-prometheus-stack's grafana subchart writes every section and key
#:   of `grafana.ini` into Grafana's configuration file (grafana chart 12.11.1
#:   templates/_config.tpl, `range $elem, $elemVal := index .Values "grafana.ini"`): Grafana's
#:   own settings (`server.root_url`, ...), which the chart does not enumerate.
#: - configuration.repositoryMaintenanceJob.repositoryConfigData.global: the velero chart writes
#:   the whole map as JSON into the repository-maintenance ConfigMap (velero chart 12.1.0
#:   templates/repo-maintenance-configmap.yaml, `toPrettyJson`), Velero's JobConfigs
#:   (`podResources`, `keepLatestMaintenanceJobs`, ...), of which its values.yaml sets one.
FREE_FORM_PATHS = frozenset(
    {
        "configs.cm",
        "configs.params",
        "configs.rbac",
        "configs.secret.extra",
        "configs.credentialTemplates",
        "configs.repositories",
        "configs.clusterCredentials",
        "configs.gpg.keys",
        "redis-ha.redis.config",
        "grafana.grafana.ini",
        "configuration.repositoryMaintenanceJob.repositoryConfigData.global",
    }
)

#: Keys whose value is a Kubernetes object fragment the chart copies with `toYaml`, wherever
#: they appear: any field of the Kubernetes type is valid, and the chart's default (if any) is
#: only an example (`global.nodeSelector` defaults to `kubernetes.io/os: linux`,
#: `*.containerSecurityContext` to a few SecurityContext fields, `resources` to `{}`,
#: redis-ha's `haproxy.deploymentStrategy` to `type: RollingUpdate` with `rollingUpdate` only in
#: a comment).
#: `affinity` is not here: `global.affinity` is the chart's own small schema
#: (`podAntiAffinity: soft`), while `<component>.affinity` defaults to `{}` and is caught by the
#: empty-map rule.
FREE_FORM_KEYS = frozenset(
    {
        "annotations",
        "containerSecurityContext",
        "deploymentStrategy",
        "labels",
        "nodeSelector",
        "podAnnotations",
        "podLabels",
        "resources",
        "securityContext",
    }
)


def _merge_missing(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_missing(target[key], value)
        elif key not in target:
            target[key] = copy.deepcopy(value)


def load_chart_defaults(chart_dir: Path = ARGOCD_CHART_DIR) -> dict[str, Any]:
    """The default values of the chart in `chart_dir` (by default the argo-cd chart,
    `upstream/charts/argo-cd`, 10.1.1).

    Each dependency of its `Chart.yaml` (argo-cd: redis-ha 4.38.0; kube-prometheus-stack:
    grafana, kube-state-metrics, ...) found unpacked in `charts/<name>/` has its own
    `values.yaml` merged in below its name (or alias), as Helm does: the parent's values win.
    Raises FileNotFoundError naming the file if the chart's values.yaml is missing.
    """
    chart_dir = Path(chart_dir)
    defaults = _values_file(chart_dir / "values.yaml")
    chart = yaml.load((chart_dir / "Chart.yaml").read_text(), Loader=parsed.LOADER) or {}
    for dependency in chart.get("dependencies") or []:
        subchart_values = chart_dir / "charts" / dependency["name"] / "values.yaml"
        if subchart_values.is_file():
            key = dependency.get("alias") or dependency["name"]
            target = defaults.setdefault(key, {})
            _merge_missing(target, _values_file(subchart_values))
    return defaults


def _values_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chart defaults not found")
    # Parsed once per content (offline/parsed.py); a copy, since callers merge into it.
    values = copy.deepcopy(parsed.load(path))
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of values")
    return values


def is_free_form(path: str, key: str, default: Any) -> bool:
    """Whether any key may appear below `path` (whose last segment is `key`).

    True for the maps in `FREE_FORM_PATHS` and `FREE_FORM_KEYS`, and for any key whose
    default is an empty map (`podAnnotations: {}`, `affinity: {}`, `extraObjects`-style
    settings): the chart cannot list keys it leaves to the user. Lists (`extraArgs`, `env`,
    `tolerations`, `volumes`) are never looked into: their items are free-form by nature.
    """
    return (
        path in FREE_FORM_PATHS
        or key in FREE_FORM_KEYS
        or (isinstance(default, dict) and not default)
    )


def unknown_keys(
    values: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Dotted paths of keys in `values` that the chart defaults do not have.

    `unknown_keys({"server": {"replicaz": 2}}, defaults)` -> `["server.replicaz"]`. Recurses
    into maps the chart defines, and stops at free-form ones (`is_free_form`).
    """
    return [path for path, _ in _unknown_items(values, defaults, prefix)]


def _unknown_items(
    values: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = ""
) -> list[tuple[str, Any]]:
    """`unknown_keys` with the value found at each path."""
    found: list[tuple[str, Any]] = []
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in defaults:
            found.append((path, value))
            continue
        default = defaults[key]
        if not isinstance(value, Mapping) or not isinstance(default, Mapping):
            continue
        if is_free_form(path, str(key), default):
            continue
        found += _unknown_items(value, default, path)
    return found


# --- What the templates read -------------------------------------------------------------------

_DOTTED_READ = re.compile(r"\.Values((?:\.[A-Za-z0-9_]+)+)")
_INDEX_READ = re.compile(r"index\s+\$?\.Values((?:\.[A-Za-z0-9_]+)*)((?:\s+\"[^\"]+\")+)")


def _reads(text: str) -> set[str]:
    """Dotted value paths a template text reads: `.Values.server.replicas`, `index .Values "a"`."""
    found = {match.group(1)[1:] for match in _DOTTED_READ.finditer(text)}
    for match in _INDEX_READ.finditer(text):
        parts = [p for p in match.group(1).split(".") if p]
        parts += re.findall(r'"([^"]+)"', match.group(2))
        found.add(".".join(parts))
    return found


@lru_cache(maxsize=8)
def template_references(chart_dir: Path) -> frozenset[str]:
    """Every value path the templates of the chart in `chart_dir` read, by text search.

    A subchart's reads (`charts/<name>/templates`) are put below its name (or alias), as Helm
    passes them, except `global.*`, which every chart sees at the top.
    """
    chart_dir = Path(chart_dir)
    found = {path for file in _template_files(chart_dir) for path in _reads(file.read_text())}
    chart = yaml.load((chart_dir / "Chart.yaml").read_text(), Loader=parsed.LOADER) or {}
    for dependency in chart.get("dependencies") or []:
        key = dependency.get("alias") or dependency["name"]
        for file in _template_files(chart_dir / "charts" / dependency["name"]):
            for path in _reads(file.read_text()):
                found.add(path if path.split(".")[0] == "global" else f"{key}.{path}")
    return frozenset(found)


def _template_files(chart_dir: Path) -> list[Path]:
    templates = chart_dir / "templates"
    return sorted(p for p in templates.rglob("*") if p.is_file()) if templates.is_dir() else []


@lru_cache(maxsize=8)
def _cached_defaults(chart_dir: Path) -> dict[str, Any]:
    return load_chart_defaults(chart_dir)


def chart_defaults(chart_dir: Path) -> dict[str, Any]:
    """`load_chart_defaults(chart_dir)`, read once per chart in the process: shared, so do not
    modify it (copy it first)."""
    return _cached_defaults(Path(chart_dir).resolve())


def ignored_values(chart_dir: Path, values: Mapping[str, Any]) -> list[str]:
    """Dotted paths of `values` the chart in `chart_dir` never reads: Helm would drop them.

    A path is ignored when it is not in the chart's default values (with its subcharts', see
    `load_chart_defaults`; below free-form maps anything goes, see `unknown_keys`) and no
    template reads it (`template_references`); a map that templates read only parts of
    (`global.g` of `global`) is looked into.
    """
    chart_dir = Path(chart_dir).resolve()
    reads = template_references(chart_dir)
    found: list[str] = []
    for path, value in _unknown_items(values, _cached_defaults(chart_dir)):
        found += _unread(path, value, reads)
    return found


def _unread(path: str, value: Any, reads: frozenset[str]) -> list[str]:
    if path in reads:
        return []
    below = [read for read in reads if read.startswith(path + ".")]
    if not below:
        return [path]
    if not isinstance(value, Mapping):
        return []
    found: list[str] = []
    for key, item in value.items():
        found += _unread(f"{path}.{key}", item, reads)
    return found
