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
CONFIG_SECRET = "alertmanager-config"
CONFIG_KEY = "alertmanager.yaml"
LABELS = {"app.kubernetes.io/part-of": "monitoring", "app.kubernetes.io/managed-by": "pulumi"}
NULL = "null"
HEARTBEAT_INTERVAL = "1m"
"""How often the always-firing Watchdog reaches the dead man's switch: it raises the alarm when
the pings stop (set its period to a few minutes)."""


def namespace_manifest() -> Manifest:
    """node-exporter runs with the host's network, PID namespace and root filesystem
    (prometheus-node-exporter chart `templates/daemonset.yaml`): the namespace admits
    privileged pods."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                **LABELS,
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def _receiver(name: str, fmt: str, url: str) -> dict[str, Any]:
    if fmt == "slack":
        return {"name": name, "slack_configs": [{"api_url": url, "send_resolved": True}]}
    if fmt == "discord":
        return {"name": name, "discord_configs": [{"webhook_url": url, "send_resolved": True}]}
    return {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}


def alertmanager_config(fmt: str, receiver_url: str | None, heartbeat_url: str | None) -> str:
    """alertmanager.yaml: alerts grouped per alert, namespace and SLO; critical ones silence the
    warnings of the same alert; the Watchdog goes to the dead man's switch only."""
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
                    "group_interval": HEARTBEAT_INTERVAL,
                    "repeat_interval": HEARTBEAT_INTERVAL,
                },
                # kube-prometheus-stack's helper alert for inhibiting `info` alerts.
                {"receiver": NULL, "matchers": ['alertname = "InfoInhibitor"']},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["alertname", "namespace"],
            }
        ],
        "receivers": receivers,
    }
    return yaml.safe_dump(config, sort_keys=False)
