"""The monitoring add-on's namespace and Alertmanager configuration: receivers from secret
config, the Watchdog to a dead man's switch, nothing secret in the plan."""

from __future__ import annotations

import json

import pytest
import yaml

from components.monitoring.alerting import CONFIG_KEY, CONFIG_SECRET, alertmanager_config
from offline.graph import plan_document
from tests.conftest import NS, by_type, recorded, stack_values

COMPONENT = "talos-platform:monitoring:Monitoring"
RECEIVER = "https://hooks.slack.com/services/T000/B000/alert-receiver-secret-part"
HEARTBEAT = "https://hc-ping.com/0f0e0d0c-heartbeat-secret-part"


@pytest.mark.parametrize(
    ("fmt", "key", "field"),
    [
        ("slack", "slack_configs", "api_url"),
        ("discord", "discord_configs", "webhook_url"),
        ("webhook", "webhook_configs", "url"),
    ],
)
def test_each_format_is_the_receiver_alertmanager_knows(fmt: str, key: str, field: str) -> None:
    config = yaml.safe_load(alertmanager_config(fmt, RECEIVER, None))
    default = next(r for r in config["receivers"] if r["name"] == "default")
    assert default[key] == [{field: RECEIVER, "send_resolved": True}]
    assert config["route"]["receiver"] == "default"


def test_without_urls_every_alert_goes_to_the_null_receiver() -> None:
    config = yaml.safe_load(alertmanager_config("webhook", None, None))
    assert config["receivers"] == [{"name": "null"}]
    assert config["route"]["receiver"] == "null"
    assert {r["receiver"] for r in config["route"]["routes"]} == {"null"}


def test_the_watchdog_pings_the_dead_mans_switch_every_minute() -> None:
    """repeat_interval under the group interval: Alertmanager re-sends at a tick only once the
    repeat interval has passed since the last send, so 1m would send every other minute."""
    config = yaml.safe_load(alertmanager_config("slack", RECEIVER, HEARTBEAT))
    watchdog = next(r for r in config["route"]["routes"] if "Watchdog" in r["matchers"][0])
    assert watchdog["receiver"] == "heartbeat"
    assert watchdog["group_interval"] == "1m"
    assert watchdog["repeat_interval"] == "50s"
    heartbeat = next(r for r in config["receivers"] if r["name"] == "heartbeat")
    assert heartbeat["webhook_configs"] == [{"url": HEARTBEAT, "send_resolved": False}]


def _with_receivers() -> tuple[dict[str, str], frozenset[str]]:
    values, secrets = stack_values("prod")
    values = {
        **values,
        f"{NS}:alertmanager_receiver_url": RECEIVER,
        f"{NS}:alertmanager_heartbeat_url": HEARTBEAT,
        f"{NS}:alerting": json.dumps({"format": "slack"}),
    }
    keys = {f"{NS}:alertmanager_receiver_url", f"{NS}:alertmanager_heartbeat_url"}
    return values, secrets | keys


def test_info_alerts_go_nowhere_and_are_inhibited_as_the_chart_does() -> None:
    config = yaml.safe_load(alertmanager_config("slack", RECEIVER, None))
    info = [r for r in config["route"]["routes"] if r["matchers"] == ['severity = "info"']]
    assert info == [{"receiver": "null", "matchers": ['severity = "info"']}]
    inhibitions = {
        (r["source_matchers"][0], r["target_matchers"][0]) for r in config["inhibit_rules"]
    }
    assert ('alertname = "InfoInhibitor"', 'severity = "info"') in inhibitions
    assert ('severity = "critical"', 'severity =~ "warning|info"') in inhibitions


def test_only_node_exporter_runs_privileged() -> None:
    run = recorded("prod")
    namespaces = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in by_type(run, "kubernetes:core/v1:Namespace")
    }
    assert namespaces["monitoring"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces["monitoring"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert namespaces["node-exporter"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_namespace_and_the_config_are_what_the_root_waits_for() -> None:
    values, secrets = _with_receivers()
    run = recorded("prod", values, secrets)
    [component] = [r for r in run.registrations if r.type == COMPONENT]
    namespace = next(
        r for r in by_type(run, "kubernetes:core/v1:Namespace") if r.name == "monitoring-namespace"
    )
    assert namespace.parent == component.urn
    assert namespace.inputs["metadata"]["name"] == "monitoring"
    secret = next(
        r
        for r in by_type(run, "kubernetes:core/v1:Secret")
        if r.name == "monitoring-alertmanager-config"
    )
    assert secret.inputs["metadata"]["name"] == CONFIG_SECRET
    assert secret.inputs["stringData"] in ({CONFIG_KEY: "[secret]"}, "[secret]")
    root = next(
        r
        for r in by_type(run, "kubernetes:argoproj.io/v1alpha1:Application")
        if r.name == "argocd-root"
    )
    assert {secret.urn, namespace.urn} <= set(root.dependencies)
    text = json.dumps(plan_document(run))
    assert "alert-receiver-secret-part" not in text
    assert "heartbeat-secret-part" not in text


def test_grafana_gets_a_fixed_admin_login_from_a_secret() -> None:
    """The grafana chart would draw a new password at every render (a change at every Argo CD
    sync): the program draws one, keeps it, and exports it as a secret."""
    run = recorded("prod")
    password = next(
        r
        for r in by_type(run, "random:index/randomPassword:RandomPassword")
        if r.name == "monitoring-grafana-password"
    )
    assert password.inputs["length"] == 32
    secret = next(
        r for r in by_type(run, "kubernetes:core/v1:Secret") if r.name == "monitoring-grafana-admin"
    )
    assert secret.inputs["metadata"]["name"] == "grafana-admin"
    data = secret.inputs["stringData"]
    assert data == "[secret]" or (
        data["admin-user"] == "admin" and data["admin-password"] == "[secret]"
    )
    assert password.urn in secret.dependencies
    assert run.outputs["grafana_admin_password"] == "[secret]"


def test_a_failed_etcd_snapshot_job_notifies_once() -> None:
    """EtcdBackupFailed resolves with the next good snapshot; the chart's KubeJobFailed for the
    same Job would stay until someone deletes it, so it goes nowhere in `etcd-backup` only."""
    config = yaml.safe_load(alertmanager_config("slack", RECEIVER, None))
    muted = [r for r in config["route"]["routes"] if 'alertname = "KubeJobFailed"' in r["matchers"]]
    assert muted == [
        {
            "receiver": "null",
            "matchers": ['alertname = "KubeJobFailed"', 'namespace = "etcd-backup"'],
        }
    ]
