"""Catch misspelled Helm values before Helm silently ignores them.

The argo-cd chart ships no values schema, so a key the chart does not read (`server.replicaz`,
`configs.parms`) renders without complaint and the setting is simply lost. Its `values.yaml`
lists every key the templates read, so comparing our values against those defaults finds such
keys, except below maps the chart passes through as they are (see `is_free_form`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CHART_DEFAULTS_PATH = Path("argocd") / "chart-10.1.1" / "values.yaml"

#: Maps whose keys are data, not chart settings, found by where they are.
#: - configs.cm, configs.params, configs.rbac: every entry becomes a key of the argocd-cm,
#:   argocd-cmd-params-cm and argocd-rbac-cm ConfigMaps (Argo CD's own settings, which the chart
#:   does not enumerate: `url`, `timeout.reconciliation.jitter`, `server.insecure`, ...).
#: - configs.secret.extra, configs.credentialTemplates, configs.repositories,
#:   configs.clusterCredentials, configs.gpg.keys: named entries the user chooses.
#: - redis-ha.redis.config: redis.conf directives passed to the Redis HA subchart.
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
    }
)

#: Keys whose value is a Kubernetes object fragment the chart copies with `toYaml`, wherever
#: they appear: any field of the Kubernetes type is valid, and the chart's default (if any) is
#: only an example (`global.nodeSelector` defaults to `kubernetes.io/os: linux`,
#: `*.containerSecurityContext` to a few SecurityContext fields, `resources` to `{}`).
#: `affinity` is not here: `global.affinity` is the chart's own small schema
#: (`podAntiAffinity: soft`), while `<component>.affinity` defaults to `{}` and is caught by the
#: empty-map rule.
FREE_FORM_KEYS = frozenset(
    {
        "annotations",
        "containerSecurityContext",
        "labels",
        "nodeSelector",
        "podAnnotations",
        "podLabels",
        "resources",
        "securityContext",
    }
)

#: Keys of the redis-ha subchart (dependency redis-ha 4.38.0) that the argo-cd chart's
#: values.yaml does not repeat but that we set: the replica count and each redis-ha pod's
#: resources. Only these are added; everything else under `redis-ha` must be in values.yaml.
REDIS_HA_SUBCHART_DEFAULTS: dict[str, Any] = {
    "redis-ha": {
        "replicas": 3,
        "redis": {"resources": {}},
        "sentinel": {"resources": {}},
        "haproxy": {
            "replicas": 3,
            "resources": {},
            # charts/redis-ha/values.yaml (tag redis-ha-4.38.0): `deploymentStrategy`,
            # read by templates/redis-haproxy-deployment.yaml.
            "deploymentStrategy": {"type": "RollingUpdate", "rollingUpdate": {}},
        },
        "splitBrainDetection": {"resources": {}},
    }
}


def _merge_missing(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_missing(target[key], value)
        elif key not in target:
            target[key] = copy.deepcopy(value)


def load_chart_defaults(shared: Path) -> dict[str, Any]:
    """The argo-cd 10.1.1 chart's default values (`shared/argocd/chart-10.1.1/values.yaml`).

    `REDIS_HA_SUBCHART_DEFAULTS` is merged in, since the redis-ha subchart's own values.yaml is
    not in shared/. Raises FileNotFoundError naming the file if it is missing.
    """
    path = Path(shared) / CHART_DEFAULTS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chart defaults not found (shared/ is incomplete)")
    defaults = yaml.safe_load(path.read_text())
    if not isinstance(defaults, dict):
        raise ValueError(f"{path}: expected a mapping of values")
    _merge_missing(defaults, REDIS_HA_SUBCHART_DEFAULTS)
    return defaults


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
    found: list[str] = []
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in defaults:
            found.append(path)
            continue
        default = defaults[key]
        if not isinstance(value, Mapping) or not isinstance(default, Mapping):
            continue
        if is_free_form(path, str(key), default):
            continue
        found += unknown_keys(value, default, path)
    return found
