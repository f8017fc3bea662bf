"""Cloudflare: the tunnel, its ingress rules and DNS, and cloudflared running in the cluster."""

from .access import AdminAccess, AdminAccessArgs
from .cloudflared import Cloudflared, CloudflaredArgs
from .tunnel import Tunnel, TunnelArgs

__all__ = [
    "AdminAccess",
    "AdminAccessArgs",
    "Cloudflared",
    "CloudflaredArgs",
    "Tunnel",
    "TunnelArgs",
]
