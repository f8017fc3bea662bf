"""Storage: what the program supplies to the storage add-on of the platform tree."""

from .proxmox_csi import ProxmoxCsiArgs, ProxmoxCsiCredentials

__all__ = ["ProxmoxCsiArgs", "ProxmoxCsiCredentials"]
