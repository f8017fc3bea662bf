"""The cluster's network: Cilium, installed by the program before anything else in the cluster."""

from .cilium import Cilium, CiliumArgs

__all__ = ["Cilium", "CiliumArgs"]
