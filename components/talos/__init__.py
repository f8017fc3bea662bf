"""Talos Linux: machine secrets, per-node configuration documents, bootstrap and health."""

from .cluster import ClusterNode, TalosCluster, TalosClusterArgs
from .upgrades import RollingUpgrade, RollingUpgradeArgs, UpgradeNode

__all__ = [
    "ClusterNode",
    "RollingUpgrade",
    "RollingUpgradeArgs",
    "TalosCluster",
    "TalosClusterArgs",
    "UpgradeNode",
]
