"""Kubernetes: the provider built from the Talos kubeconfig, and typed objects from manifests."""

from .objects import (
    Manifest,
    namespace_patch_manifest,
    patch,
    pod_security_labels,
    register,
    secret_manifest,
)
from .provider import KubernetesCluster

__all__ = [
    "KubernetesCluster",
    "Manifest",
    "namespace_patch_manifest",
    "patch",
    "pod_security_labels",
    "register",
    "secret_manifest",
]
