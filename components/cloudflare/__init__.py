"""Cloudflare: the tunnel, its ingress rules and DNS, and cloudflared running in the cluster."""

from .cloudflared import Cloudflared, CloudflaredArgs
from .tunnel import Tunnel, TunnelArgs

__all__ = ["Cloudflared", "CloudflaredArgs", "Tunnel", "TunnelArgs"]
