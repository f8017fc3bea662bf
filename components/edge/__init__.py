"""The edge stack's concern: public hostnames served by several clusters, through a Cloudflare
Load Balancer whose pools are the clusters' own tunnels (docs/multi-cluster.md)."""

from .load_balancer import ClusterOrigin, PublicEdge, PublicEdgeArgs, pool_name

__all__ = ["ClusterOrigin", "PublicEdge", "PublicEdgeArgs", "pool_name"]
