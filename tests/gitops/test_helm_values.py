"""unknown_keys on small hand-made defaults: what is reported and what is free-form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offline.validators.helm_values import load_chart_defaults, unknown_keys

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


def test_chart_defaults_include_the_redis_ha_keys_we_use(shared: Path) -> None:
    defaults = load_chart_defaults(shared)
    assert defaults["redis-ha"]["enabled"] is False  # from the chart itself
    values = {"redis-ha": {"redis": {"resources": {}}, "sentinel": {"resourcez": {}}}}
    assert unknown_keys(values, defaults) == ["redis-ha.sentinel.resourcez"]


def test_chart_defaults_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"chart-10\.1\.1/values\.yaml"):
        load_chart_defaults(tmp_path)
