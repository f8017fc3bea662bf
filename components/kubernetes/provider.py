"""The Kubernetes provider of the cluster Talos built."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .. import type_token


class KubernetesCluster(pulumi.ComponentResource):
    """Holds the `kubernetes.Provider` every in-cluster resource is created with."""

    provider: k8s.Provider

    def __init__(
        self,
        name: str,
        kubeconfig: pulumi.Input[str],
        cluster_identifier: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("kubernetes", "Cluster"), name, {}, opts)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=pulumi.Output.secret(kubeconfig),
            # A stable identity: a renewed kubeconfig (new client certificate) must not make
            # Pulumi replace every in-cluster resource (pulumi-kubernetes #4019, #2745).
            cluster_identifier=cluster_identifier,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"cluster_identifier": cluster_identifier})
