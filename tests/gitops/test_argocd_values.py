"""Argo CD chart values per environment: every key exists in the chart, and the settings hold."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from components.argocd import values as argocd
from components.argocd.notifications import FORMATS
from offline.paths import ARGOCD_CHART_DIR
from offline.validators.helm_values import load_chart_defaults, unknown_keys

URL = "https://argocd-dev.example.com"
ENVS = ("dev", "staging", "prod")
COMPONENTS = (
    "controller",
    "server",
    "repoServer",
    "applicationSet",
    "notifications",
    "redisSecretInit",
)


@pytest.fixture(scope="module")
def defaults() -> dict[str, Any]:
    return load_chart_defaults()


@pytest.mark.parametrize("notifications", [None, *FORMATS])
@pytest.mark.parametrize("env", ENVS)
def test_every_key_exists_in_the_chart(
    env: str, notifications: str | None, defaults: dict[str, Any]
) -> None:
    values = argocd.argocd_values(env, URL, notifications=notifications)
    assert unknown_keys(values, defaults) == []


def test_a_misspelled_key_is_caught(defaults: dict[str, Any]) -> None:
    values = argocd.argocd_values("prod", URL)
    values["server"]["replicaz"] = values["server"].pop("replicas")
    values["configs"]["parms"] = values["configs"].pop("params")
    assert sorted(unknown_keys(values, defaults)) == ["configs.parms", "server.replicaz"]


def test_chart_constants_match_the_chart() -> None:
    chart = yaml.safe_load((ARGOCD_CHART_DIR / "Chart.yaml").read_text())
    assert (chart["name"], chart["version"], chart["appVersion"]) == (
        argocd.CHART_NAME,
        argocd.CHART_VERSION,
        argocd.ARGOCD_VERSION,
    )
    assert argocd.CHART_REPO == "https://argoproj.github.io/argo-helm"


def _resources_everywhere(values: dict[str, Any]) -> list[str]:
    """Paths of components that lack requests or limits for cpu and memory."""
    missing = []
    components = [(name, values[name]) for name in COMPONENTS if values[name].get("enabled", True)]
    components.append(("repoServer.copyutil", values["repoServer"]["copyutil"]))
    if values["redis"]["enabled"]:
        components.append(("redis", values["redis"]))
    if values["redis-ha"]["enabled"]:
        components += [
            (f"redis-ha.{n}", values["redis-ha"][n]) for n in ("redis", "sentinel", "haproxy")
        ]
    for name, component in components:
        resources = component.get("resources", {})
        for part in ("requests", "limits"):
            if set(resources.get(part, {})) != {"cpu", "memory"}:
                missing.append(f"{name}.resources.{part}")
    return missing


@pytest.mark.parametrize("notifications", [None, "webhook"])
@pytest.mark.parametrize("env", ENVS)
def test_common_settings(env: str, notifications: str | None) -> None:
    values = argocd.argocd_values(env, URL + "/", notifications=notifications)
    assert _resources_everywhere(values) == []
    assert values["notifications"]["enabled"] is (notifications is not None)
    assert values["global"]["domain"] == "argocd-dev.example.com"
    assert values["configs"]["cm"]["url"] == URL
    assert values["configs"]["params"]["server.insecure"] is True
    assert values["dex"]["enabled"] is False
    assert values["controller"]["replicas"] == 1
    assert values["server"]["service"]["type"] == "ClusterIP"
    assert "LoadBalancer" not in repr(values)
    assert "NodePort" not in repr(values)


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


@pytest.mark.parametrize("env", ENVS)
def test_git_changes_are_seen_in_time_for_a_one_minute_rollback(env: str) -> None:
    cm = argocd.argocd_values(env, URL)["configs"]["cm"]
    detection = _seconds(cm["timeout.reconciliation"]) + _seconds(
        cm["timeout.reconciliation.jitter"]
    )
    # docs/gitops.md: detection + render/sync (~5 s) + podinfo rollout (~15 s) < 60 s.
    assert detection <= 30


def test_prod_is_highly_available() -> None:
    values = argocd.argocd_values("prod", URL)
    for name in ("server", "repoServer", "applicationSet"):
        assert values[name]["replicas"] >= 2
        assert values[name]["pdb"]["enabled"] is True
    assert values["redis-ha"]["enabled"] is True
    assert values["redis"]["enabled"] is False


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_smaller_environments_run_single_redis(env: str) -> None:
    values = argocd.argocd_values(env, URL)
    assert values["redis"]["enabled"] is True
    assert values["redis-ha"]["enabled"] is False


@pytest.mark.parametrize(
    "url", ["http://argocd.example.com", "argocd.example.com", "https://a.example.com/argo"]
)
def test_external_url_must_be_an_https_origin(url: str) -> None:
    with pytest.raises(ValueError, match="external_url"):
        argocd.argocd_values("dev", url)


def test_child_applications_are_healthy_only_when_they_say_so() -> None:
    """Sync waves of the app-of-apps wait for child Applications only with this assessment
    (argo-cd docs/operator-manual/health.md, "Argocd App"; removed from the defaults in 1.8)."""
    lua = argocd.argocd_values("dev", URL)["configs"]["cm"][argocd.APPLICATION_HEALTH_KEY]
    assert argocd.APPLICATION_HEALTH_KEY == (
        "resource.customizations.health.argoproj.io_Application"
    )
    assert 'hs.status = "Progressing"' in lua  # no status yet: not healthy
    assert "hs.status = obj.status.health.status" in lua


@pytest.mark.parametrize("fmt", FORMATS)
def test_notifications_carry_no_receiver_address(fmt: str) -> None:
    notifications = argocd.argocd_values("prod", URL, notifications=fmt)["notifications"]
    assert "://" not in yaml.safe_dump(notifications["notifiers"])
    assert notifications["secret"] == {"create": False}
    assert notifications["argocdUrl"] == URL


@pytest.mark.parametrize("env", ENVS)
def test_the_notifications_controller_never_logs_its_requests(env: str) -> None:
    # At debug it dumps every request it sends, the receiver's token included.
    params = argocd.argocd_values(env, URL, notifications="slack")["configs"]["params"]
    assert params["notificationscontroller.log.level"] == "info"
    assert (
        "notificationscontroller.log.level"
        not in (argocd.argocd_values(env, URL)["configs"]["params"])
    )
