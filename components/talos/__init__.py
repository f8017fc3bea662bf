"""Talos Linux: machine secrets, per-node configuration documents, bootstrap and health."""

from .cluster import ClusterNode, TalosCluster, TalosClusterArgs

__all__ = ["ClusterNode", "TalosCluster", "TalosClusterArgs"]
