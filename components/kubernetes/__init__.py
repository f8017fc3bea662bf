"""Kubernetes: the provider built from the Talos kubeconfig, and typed objects from manifests."""

from .objects import Manifest, register, secret_manifest
from .provider import KubernetesCluster

__all__ = ["KubernetesCluster", "Manifest", "register", "secret_manifest"]
