"""Per public hostname: a health monitor, one pool per cluster (its tunnel as the origin) and a
load balancer that owns the hostname, steering to the pools in the configured order.

Cloudflare's rules this follows (provider paths under cloudflare/terraform-provider-cloudflare
`internal/services/`, v5):
- A tunnel's `<id>.cfargotunnel.com` only serves a pool of the tunnel's own account, and the
  tunnel routes by Host, so each origin sends the public hostname as its Host header
  (`load_balancer_pool/schema.go`, `origins[].header.host`: one Host per origin) and so does
  the monitor (`load_balancer_monitor/schema.go`, `header`). A pool therefore serves one
  hostname: the pool per (cluster, hostname), and a monitor per hostname.
- `load_balancer/schema.go`: `zone_id` is RequiresReplace, `name` is the DNS name the balancer
  owns ("If this hostname already exists as a DNS record ... the Load Balancer will take
  precedence"), `default_pools` are pool ids in failover order, `fallback_pool` the pool used
  when every pool is unhealthy. `steering_policy: off` follows `default_pools`; `random` picks a
  pool with probability by `random_steering.pool_weights`.
- `load_balancer_pool/schema.go` and `load_balancer_monitor/schema.go`: `account_id` is
  RequiresReplace; a pool's `name` allows only letters, digits, `-` and `_`; everything else
  is updated in place. Replacing a pool creates the new one first, and a load balancer refers to
  pools by id, so it is updated to the new pool before the old one is deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from config.edge import EdgeConfig, EdgeHostname

from .. import type_token

STEERING = {"failover": "off", "random": "random"}
"""The config's steering names, as Cloudflare's `steering_policy`."""
_NOT_IN_POOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


def pool_name(environment: str, stack: str, hostname: str) -> str:
    """The pool's name in Cloudflare (letters, digits, `-`, `_`), unique in the account:
    `<environment>-<cluster stack>-<hostname>` with every other character as `_`."""
    return _NOT_IN_POOL_NAME.sub("_", f"{environment}-{stack}-{hostname}")


@dataclass(frozen=True)
class ClusterOrigin:
    """One cluster as the edge sees it: its stack, its steering weight, and its tunnel id as
    the cluster stack exported it (read through a StackReference)."""

    stack: str
    weight: float
    tunnel_id: pulumi.Input[str]


@dataclass(frozen=True)
class PublicEdgeArgs:
    environment: str
    edge: EdgeConfig
    origins: list[ClusterOrigin]
    """In the config's order: with `steering: failover` the first serves."""
    project: str
    stack: str
    cloudflare_provider: pulumi.ProviderResource
    checked: pulumi.Output[object] | None = None
    """Resolves once every cluster's origin was checked (stacks/edge.py): the monitors wait for
    it, so a cluster that cannot serve stops the update before anything is created."""


class PublicEdge(pulumi.ComponentResource):
    """The load balancers of one environment's shared hostnames."""

    load_balancers: dict[str, cloudflare.LoadBalancer]
    pools: dict[tuple[str, str], cloudflare.LoadBalancerPool]
    """By (hostname, cluster stack)."""

    def __init__(
        self, name: str, args: PublicEdgeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("edge", "PublicEdge"), name, {}, opts)
        self.load_balancers = {}
        self.pools = {}
        for entry in args.edge.hostnames:
            self._hostname(name, entry, args)
        self.register_outputs(
            {
                "load_balancers": {h: lb.id for h, lb in self.load_balancers.items()},
                "pools": {f"{h}/{c}": p.id for (h, c), p in self.pools.items()},
            }
        )

    def _hostname(self, name: str, entry: EdgeHostname, args: PublicEdgeArgs) -> None:
        edge, hostname = args.edge, entry.hostname
        slug = hostname.replace(".", "-")
        on_cloudflare = pulumi.ResourceOptions(parent=self, provider=args.cloudflare_provider)
        managed = f"{args.project}/{args.stack}; managed by Pulumi"
        check = entry.monitor
        description = f"{hostname} through each cluster's tunnel ({managed})"
        monitor = cloudflare.LoadBalancerMonitor(
            f"{name}-monitor-{slug}",
            account_id=edge.account_id,
            description=(
                args.checked.apply(lambda _: description) if args.checked else description
            ),
            # HTTPS to the tunnel's edge address: cloudflared answers there, and the ingress
            # rule of this Host sends the check on to the application.
            type="https",
            method="GET",
            path=check.path,
            header={"Host": [hostname]},
            expected_codes=check.expected_codes,
            interval=check.interval_seconds,
            timeout=check.timeout_seconds,
            retries=check.retries,
            consecutive_down=check.consecutive_down,
            consecutive_up=check.consecutive_up,
            follow_redirects=False,
            allow_insecure=False,
            opts=on_cloudflare,
        )
        pools = []
        for origin in args.origins:
            pool = cloudflare.LoadBalancerPool(
                f"{name}-pool-{origin.stack}-{slug}",
                account_id=edge.account_id,
                name=pool_name(args.environment, origin.stack, hostname),
                description=f"{hostname} served by cluster stack {origin.stack} ({managed})",
                # Typed arguments: a misspelt key of a plain dict would be dropped without a
                # word by the bridge (the SDK names the origin's Host header `hosts`).
                origins=[
                    cloudflare.LoadBalancerPoolOriginArgs(
                        name=origin.stack,
                        address=pulumi.Output.concat(origin.tunnel_id, ".cfargotunnel.com"),
                        enabled=True,
                        weight=1,
                        header=cloudflare.LoadBalancerPoolOriginHeaderArgs(hosts=[hostname]),
                    )
                ],
                monitor=monitor.id,
                check_regions=list(edge.check_regions),
                minimum_origins=1,
                enabled=True,
                opts=on_cloudflare,
            )
            self.pools[(hostname, origin.stack)] = pool
            pools.append(pool)
        random = edge.steering == "random"
        self.load_balancers[hostname] = cloudflare.LoadBalancer(
            f"{name}-lb-{slug}",
            zone_id=edge.zone_id,
            name=hostname,
            description=f"{hostname}: {edge.steering} over {', '.join(edge.stack_names())} "
            f"({managed})",
            default_pools=[p.id for p in pools],
            # Every pool unhealthy, the cluster that serves first still gets the traffic: what
            # one cluster alone does, also when the health check itself is what is wrong (a
            # renamed path, a wrong code) rather than every cluster.
            fallback_pool=pools[0].id,
            steering_policy=STEERING[edge.steering],
            random_steering=(
                cloudflare.LoadBalancerRandomSteeringArgs(
                    default_weight=1,
                    pool_weights=pulumi.Output.all(*[p.id for p in pools]).apply(
                        lambda ids: {
                            pid: o.weight for pid, o in zip(ids, args.origins, strict=True)
                        }
                    ),
                )
                if random
                else None
            ),
            proxied=True,
            session_affinity="none",
            enabled=True,
            opts=on_cloudflare,
        )
