"""What the Proxmox CSI plugin (an add-on of the platform tree, gitops/platform) needs from the
program: its namespace, privileged, and its Proxmox credentials as a Secret.

The plugin reads a cloud config (`clusters: [{url, insecure, token_id, token_secret, region}]`,
sergelogvinov/proxmox-csi-plugin v0.19.1 `docs/install.md` and the chart's `config` value)
from the Secret its chart is pointed at (`existingConfigSecret`, `existingConfigSecretKey`). The
token is the secret `proxmox_csi_token` of the stack: its own least-privileged Proxmox user
(`python -m tools.proxmox_access --csi`), not the program's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from .. import type_token
from ..kubernetes import Manifest, register, secret_manifest

NAMESPACE = "csi-proxmox"
CONFIG_SECRET = "proxmox-csi-plugin"
CONFIG_KEY = "config.yaml"
LABELS = {
    "app.kubernetes.io/part-of": "proxmox-csi-plugin",
    "app.kubernetes.io/managed-by": "pulumi",
}


def namespace_manifest() -> Manifest:
    """The node plugin mounts host paths and runs privileged (the chart's
    `templates/node-deployment.yaml`): the namespace admits privileged pods, as the plugin's
    install docs label it (`pod-security.kubernetes.io/enforce=privileged`)."""
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


def cloud_config(endpoint: str, insecure: bool, region: str, token: str) -> str:
    """The plugin's config.yaml for one Proxmox cluster. `token` is `USER@REALM!TOKENID=UUID`
    (validated by the config loader): its id is what precedes `=`."""
    token_id, _, token_secret = token.partition("=")
    cluster: dict[str, Any] = {
        "url": f"{endpoint.rstrip('/')}/api2/json",
        "insecure": insecure,
        "token_id": token_id,
        "token_secret": token_secret,
        "region": region,
    }
    return yaml.safe_dump({"clusters": [cluster]}, sort_keys=False)


@dataclass(frozen=True)
class ProxmoxCsiArgs:
    endpoint: str
    """The Proxmox API URL of the stack (`proxmox.endpoint`)."""
    insecure: bool
    region: str
    """The Proxmox cluster's name: the nodes' `topology.kubernetes.io/region` label."""
    token: pulumi.Output[str]
    k8s_provider: pulumi.ProviderResource


class ProxmoxCsiCredentials(pulumi.ComponentResource):
    """The `csi-proxmox` namespace and the plugin's cloud-config Secret in it."""

    def __init__(
        self, name: str, args: ProxmoxCsiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("storage", "ProxmoxCsiCredentials"), name, {}, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        namespace = register(f"{name}-namespace", namespace_manifest(), in_cluster)
        config = pulumi.Output.secret(
            args.token.apply(
                lambda token: cloud_config(args.endpoint, args.insecure, args.region, token)
            )
        )
        register(
            f"{name}-config",
            secret_manifest(CONFIG_SECRET, NAMESPACE, LABELS, {CONFIG_KEY: config}),
            pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=[namespace])
            ),
        )
        self.register_outputs({"namespace": NAMESPACE, "secret": CONFIG_SECRET})
