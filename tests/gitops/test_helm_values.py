"""unknown_keys on small hand-made defaults: what is reported and what is free-form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offline.paths import ARGOCD_CHART_DIR
from offline.validators.helm_values import (
    ignored_values,
    load_chart_defaults,
    template_references,
    unknown_keys,
)

DEFAULTS: dict[str, Any] = {
    "global": {"domain": "x", "nodeSelector": {"kubernetes.io/os": "linux"}},
    "configs": {
        "cm": {"create": True, "timeout.reconciliation": "120s"},
        "params": {"create": True},
    },
    "server": {
        "replicas": 1,
        "podAnnotations": {},
        "extraArgs": [],
        "resources": {},
        "service": {"type": "ClusterIP"},
        "containerSecurityContext": {"runAsNonRoot": True},
    },
}


def test_known_keys_pass() -> None:
    values = {
        "global": {"domain": "a"},
        "server": {"replicas": 2, "service": {"type": "ClusterIP"}},
    }
    assert unknown_keys(values, DEFAULTS) == []


def test_misspelled_keys_are_reported_with_their_full_path() -> None:
    values = {
        "server": {"replicaz": 2, "service": {"tipe": "ClusterIP"}},
        "configs": {"parms": {}},
        "severs": {},
    }
    assert sorted(unknown_keys(values, DEFAULTS)) == [
        "configs.parms",
        "server.replicaz",
        "server.service.tipe",
        "severs",
    ]


def test_prefix_is_prepended() -> None:
    assert unknown_keys({"replicaz": 1}, DEFAULTS["server"], prefix="server") == ["server.replicaz"]


def test_free_form_maps_accept_any_key() -> None:
    values = {
        "global": {"nodeSelector": {"node-role": "infra"}},
        "configs": {
            "cm": {"url": "https://a", "anything.at.all": "1"},
            "params": {"server.insecure": True},
        },
        "server": {
            "podAnnotations": {"a": "b"},
            "extraArgs": ["--x"],
            "resources": {"requests": {"cpu": "1"}},
            "containerSecurityContext": {"capabilities": {"drop": ["ALL"]}},
        },
    }
    assert unknown_keys(values, DEFAULTS) == []


def test_chart_defaults_include_the_redis_ha_keys_we_use() -> None:
    defaults = load_chart_defaults()
    assert defaults["redis-ha"]["enabled"] is False  # from the chart itself
    values = {"redis-ha": {"redis": {"resources": {}}, "sentinel": {"resourcez": {}}}}
    assert unknown_keys(values, defaults) == ["redis-ha.sentinel.resourcez"]


def test_chart_defaults_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"values\.yaml: chart defaults not found"):
        load_chart_defaults(tmp_path)


def _chart(root: Path) -> Path:
    """A tiny chart: values `a.b`, templates reading `a.c` and `x-y`, subchart `sub` (alias
    `s`) reading `z.deep` and `global.g`."""
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: tiny\nversion: 1.0.0\n"
        "dependencies:\n  - name: sub\n    version: 1.0.0\n    alias: s\n"
    )
    (root / "values.yaml").write_text("a:\n  b: 1\n")
    (root / "templates" / "cm.yaml").write_text(
        '{{ .Values.a.c }} {{ index $.Values "x-y" }} {{ .Values.a.b | quote }}\n'
    )
    sub = root / "charts" / "sub"
    (sub / "templates").mkdir(parents=True)
    (sub / "values.yaml").write_text("known: 1\n")
    (sub / "templates" / "_helpers.tpl").write_text("{{ .Values.z.deep }} {{ .Values.global.g }}")
    return root


def test_template_references_put_subchart_reads_below_the_alias(tmp_path: Path) -> None:
    refs = template_references(_chart(tmp_path / "tiny"))
    assert {"a.c", "x-y", "a.b", "s.z.deep", "global.g"} <= refs


def test_ignored_values_spares_keys_the_templates_read(tmp_path: Path) -> None:
    chart = _chart(tmp_path / "tiny")
    values = {
        "a": {"b": 2, "c": 3, "d": 4},
        "x-y": 1,
        "s": {"known": 2, "z": {"deep": 1}, "w": 2},
        "global": {"g": 1, "h": 2},
    }
    assert ignored_values(chart, values) == ["a.d", "s.w", "global.h"]


def test_ignored_values_of_the_vendored_chart() -> None:
    values = {
        "server": {"replicas": 2, "replica": 2},
        "redis-ha": {"enabled": True, "haproxy": {"replicas": 2, "replicaz": 2}},
    }
    assert ignored_values(ARGOCD_CHART_DIR, values) == [
        "server.replica",
        "redis-ha.haproxy.replicaz",
    ]
