"""Proxmox VE: the Talos boot image on each host, and one VM per node."""

from .image import TalosImage, TalosImageArgs
from .vm import NodeVm, NodeVmArgs

__all__ = ["NodeVm", "NodeVmArgs", "TalosImage", "TalosImageArgs"]
