"""The Kubernetes provider of the cluster Talos built."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .. import type_token
from .objects import namespace_patch_manifest, patch, pod_security_labels

KUBE_SYSTEM = "kube-system"
KUBE_SYSTEM_POD_SECURITY = "privileged"
"""Cilium's pods (the release's, in `kube-system`) break nearly every baseline control: the
agent and Envoy run in the host's network namespace with hostPath mounts (the BPF filesystem,
the CNI configuration and binaries, cgroups), SELinux type `spc_t`, an Unconfined seccomp or
AppArmor profile and NET_ADMIN/SYS_ADMIN among their capabilities; the agent's init containers
are privileged; the operator uses hostNetwork and host ports. The Talos control plane's static
pods use hostNetwork too. Nothing short of privileged admits them. Talos' PodSecurity
configuration exempts the namespace anyway (`exemptions.namespaces: [kube-system]`): the label
says the same, explicitly."""


BUILT_IN_POD_SECURITY = {
    "default": "restricted",
    "kube-public": "restricted",
    "kube-node-lease": "restricted",
}
"""The API server's other namespaces. Nothing of the platform runs in them (`kube-public` holds
the cluster-info ConfigMap, `kube-node-lease` the nodes' Leases); restricted keeps a pod put
into `default` by mistake from running privileged."""


class KubernetesCluster(pulumi.ComponentResource):
    """Holds the `kubernetes.Provider` every in-cluster resource is created with."""

    provider: k8s.Provider
    kube_system: pulumi.CustomResource
    """The Pod Security labels of `kube-system` (a NamespacePatch: Talos creates the namespace)."""
    built_in_namespaces: dict[str, pulumi.CustomResource]
    """The Pod Security labels of the API server's other namespaces (NamespacePatches)."""

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
        # Here, with the provider: the namespace is the cluster's own (the API server makes it),
        # not any one add-on's, and Cilium (a release on a provider of its own, before this
        # one's resources) and the tree's metrics-server and kubelet-csr-approver all run in it.
        self.kube_system = patch(
            f"{name}-kube-system-pod-security",
            namespace_patch_manifest(KUBE_SYSTEM, pod_security_labels(KUBE_SYSTEM_POD_SECURITY)),
            pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.built_in_namespaces = {
            namespace: patch(
                f"{name}-{namespace}-pod-security",
                namespace_patch_manifest(namespace, pod_security_labels(level)),
                pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
            for namespace, level in BUILT_IN_POD_SECURITY.items()
        }
        self.register_outputs(
            {
                "cluster_identifier": cluster_identifier,
                "kube_system_pod_security": KUBE_SYSTEM_POD_SECURITY,
                "built_in_pod_security": BUILT_IN_POD_SECURITY,
            }
        )
