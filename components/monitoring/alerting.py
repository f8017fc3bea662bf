"""Alertmanager's configuration, which holds the receivers' secret URLs.

The Alertmanager of the add-on reads its whole configuration from the Secret
`monitoring/alertmanager-config`, key `alertmanager.yaml` (prometheus-operator `configSecret`);
the URLs never enter Git or the Helm values. Receivers (prometheus/alertmanager
`config/notifiers.go`): `slack_configs[].api_url` (a Slack incoming webhook),
`discord_configs[].webhook_url`, or `webhook_configs[].url` (Alertmanager's JSON payload).
"""

from __future__ import annotations

from typing import Any

import yaml

from ..kubernetes import Manifest

NAMESPACE = "monitoring"
NODE_EXPORTER_NAMESPACE = "node-exporter"
CONFIG_SECRET = "alertmanager-config"
CONFIG_KEY = "alertmanager.yaml"
LABELS = {"app.kubernetes.io/part-of": "monitoring", "app.kubernetes.io/managed-by": "pulumi"}
NULL = "null"
HEARTBEAT_INTERVAL = "50s"
"""How often the always-firing Watchdog may be re-sent to the dead man's switch. Alertmanager
re-sends only at a group tick after `repeat_interval` has passed since the last send, logged
after the send (prometheus/alertmanager v0.34.0 `notify/dedup_stage.go`, `nflog/nflog.go`): with
ticks every minute, 50 s sends every minute where 1m would send every other. Give the switch a
period of 5 minutes or more."""


def _namespace(name: str, labels: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**LABELS, **labels}},
    }


def namespace_manifest() -> Manifest:
    """Prometheus, Alertmanager, Grafana, the operator and kube-state-metrics: the baseline Pod
    Security Standard enforced, restricted audited and warned about."""
    return _namespace(
        NAMESPACE,
        {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        },
    )


def node_exporter_namespace_manifest() -> Manifest:
    """node-exporter alone: it runs with the host's network, PID namespace and root filesystem
    (prometheus-node-exporter chart `templates/daemonset.yaml`), so its namespace admits
    privileged pods, and nothing else runs there."""
    return _namespace(
        NODE_EXPORTER_NAMESPACE,
        {
            "pod-security.kubernetes.io/enforce": "privileged",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    )


def _receiver(name: str, fmt: str, url: str) -> dict[str, Any]:
    if fmt == "slack":
        return {"name": name, "slack_configs": [{"api_url": url, "send_resolved": True}]}
    if fmt == "discord":
        return {"name": name, "discord_configs": [{"webhook_url": url, "send_resolved": True}]}
    return {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}


def alertmanager_config(fmt: str, receiver_url: str | None, heartbeat_url: str | None) -> str:
    """alertmanager.yaml: alerts grouped per alert, namespace and SLO, critical and warning
    alerts to the one receiver (their severity in the message); `info` alerts to nobody (they
    are context, kube-prometheus-stack's InfoInhibitor mutes them unless something else fires);
    a critical alert silences the warnings of the same alert; the Watchdog goes to the dead
    man's switch only."""
    receivers: list[dict[str, Any]] = [{"name": NULL}]
    default = NULL
    if receiver_url:
        receivers.append(_receiver("default", fmt, receiver_url))
        default = "default"
    watchdog = NULL
    if heartbeat_url:
        receivers.append(
            {
                "name": "heartbeat",
                "webhook_configs": [{"url": heartbeat_url, "send_resolved": False}],
            }
        )
        watchdog = "heartbeat"
    config = {
        "route": {
            "receiver": default,
            "group_by": ["alertname", "namespace", "slo_hostname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": watchdog,
                    "matchers": ['alertname = "Watchdog"'],
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": HEARTBEAT_INTERVAL,
                },
                # kube-prometheus-stack's helper alert for inhibiting `info` alerts, and the
                # info alerts themselves: seen in the UI, sent nowhere.
                {"receiver": NULL, "matchers": ['alertname = "InfoInhibitor"']},
                {"receiver": NULL, "matchers": ['severity = "info"']},
                # A failed etcd snapshot Job is EtcdBackupFailed's (gitops/platform/monitoring/
                # rules/common/backup.yaml), which resolves with the next good snapshot; the
                # chart's KubeJobFailed would stay until the failed Job is deleted.
                {
                    "receiver": NULL,
                    "matchers": ['alertname = "KubeJobFailed"', 'namespace = "etcd-backup"'],
                },
            ],
        },
        # The chart's own inhibitions (kube-prometheus-stack values.yaml `alertmanager.config`),
        # which this configuration replaces.
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["alertname", "namespace"],
            },
            {
                "source_matchers": ['severity = "warning"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["alertname", "namespace"],
            },
            {
                "source_matchers": ['alertname = "InfoInhibitor"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace"],
            },
        ],
        "receivers": receivers,
    }
    return yaml.safe_dump(config, sort_keys=False)
