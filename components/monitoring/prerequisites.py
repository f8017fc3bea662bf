"""What the monitoring add-on (kube-prometheus-stack, gitops/platform) needs from the program
before Argo CD syncs it: its namespace, Alertmanager's configuration (the receivers' URLs are
secret) and Grafana's admin login (a password the program draws once and keeps)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from .. import type_token
from ..kubernetes import register, secret_manifest
from .alerting import (
    CONFIG_KEY,
    CONFIG_SECRET,
    LABELS,
    NAMESPACE,
    alertmanager_config,
    namespace_manifest,
    node_exporter_namespace_manifest,
)

GRAFANA_SECRET = "grafana-admin"
"""Read by the grafana chart (`admin.existingSecret`, keys `admin-user` and `admin-password`):
without it the chart draws a new password at every render, which Argo CD would see as a change
at every sync (gitops/platform/addons/kube-prometheus-stack)."""
GRAFANA_USER = "admin"
PASSWORD_LENGTH = 32


@dataclass(frozen=True)
class MonitoringArgs:
    alert_format: str
    receiver_url: pulumi.Output[str] | None
    heartbeat_url: pulumi.Output[str] | None
    k8s_provider: pulumi.ProviderResource


class Monitoring(pulumi.ComponentResource):
    """The `monitoring` and `node-exporter` namespaces, Alertmanager's configuration and Grafana's
    admin login."""

    grafana_password: pulumi.Output[str]
    """Grafana's admin password (secret): `pulumi stack output grafana_admin_password
    --show-secrets` (Cloudflare Access stands in front of the login)."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("monitoring", "Monitoring"), name, {}, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        namespace = register(f"{name}-namespace", namespace_manifest(), in_cluster)
        register(f"{name}-node-exporter-namespace", node_exporter_namespace_manifest(), in_cluster)
        in_namespace = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[namespace])
        )
        config = pulumi.Output.secret(
            pulumi.Output.all(args.receiver_url, args.heartbeat_url).apply(
                lambda urls: alertmanager_config(args.alert_format, urls[0], urls[1])
            )
        )
        register(
            f"{name}-alertmanager-config",
            secret_manifest(CONFIG_SECRET, NAMESPACE, LABELS, {CONFIG_KEY: config}),
            in_namespace,
        )
        # A RandomPassword, not RandomBytes: its id is "none" and its result secret (see
        # components/cloudflare/tunnel.py).
        password = random.RandomPassword(
            f"{name}-grafana-password",
            length=PASSWORD_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        self.grafana_password = pulumi.Output.secret(password.result)
        register(
            f"{name}-grafana-admin",
            secret_manifest(
                GRAFANA_SECRET,
                NAMESPACE,
                LABELS,
                {"admin-user": GRAFANA_USER, "admin-password": self.grafana_password},
            ),
            in_namespace,
        )
        self.register_outputs(
            {
                "namespace": NAMESPACE,
                "alertmanager_config": CONFIG_SECRET,
                "grafana_admin": GRAFANA_SECRET,
                "receiver": args.receiver_url is not None,
                "heartbeat": args.heartbeat_url is not None,
            }
        )
