"""The Cloudflare Tunnel: remotely managed tunnel, its ingress rules, and a DNS record per name."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from config.models import CloudflareConfig

from .. import type_token
from .ingress import ingress_rules

CONFIG_SRC = "cloudflare"
"""Remotely managed: the ingress rules live in Cloudflare, cloudflared needs only its token."""
SECRET_CHARACTERS = 48
"""Tunnel secret: 48 random letters and digits (about 285 bits), sent base64-encoded as 48
bytes; cloudflared requires at least 32 bytes."""


@dataclass(frozen=True)
class TunnelArgs:
    cloudflare: CloudflareConfig
    project: str
    stack: str
    cloudflare_provider: pulumi.ProviderResource
    guards: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Access applications by hostname: a guarded hostname is routed and published only once
    its guard exists, so an admin UI is never reachable without Access."""


class Tunnel(pulumi.ComponentResource):
    """A tunnel whose configuration lives in Cloudflare (`config_src="cloudflare"`)."""

    tunnel: cloudflare.ZeroTrustTunnelCloudflared
    token: pulumi.Output[str]
    """The connector token cloudflared runs with: secret."""
    cname_target: pulumi.Output[str]

    def __init__(self, name: str, args: TunnelArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("cloudflare", "Tunnel"), name, {}, opts)
        cf = args.cloudflare
        on_cloudflare = pulumi.ResourceOptions(parent=self, provider=args.cloudflare_provider)
        # Not RandomBytes: its resource id is its base64 value (pulumi/pulumi-random
        # `provider/resources.go`, computeRandomBytesID), so the secret would sit in plain text
        # in the state. A RandomPassword's id is "none" and its result is secret.
        secret = random.RandomPassword(
            f"{name}-secret",
            length=SECRET_CHARACTERS,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        # Tunnel names are unique in an account ("You already have a tunnel with this name",
        # pulumi/pulumi-cloudflare #1440), and Pulumi creates a replacement before it deletes
        # the old tunnel. The suffix is drawn again exactly when the tunnel would be replaced:
        # a change of account_id or config_src (their RequiresReplace in
        # `internal/services/zero_trust_tunnel_cloudflared/schema.go`); a name change alone is
        # an update in place.
        suffix = random.RandomId(
            f"{name}-suffix",
            byte_length=3,
            keepers={"account_id": cf.account_id, "config_src": CONFIG_SRC},
            opts=pulumi.ResourceOptions(parent=self),
        )
        # `pulumi up --replace <this RandomId>` draws a new name and, through the trigger,
        # replaces the tunnel under it: the way to replace a tunnel without a name collision.
        self.tunnel = cloudflare.ZeroTrustTunnelCloudflared(
            name,
            account_id=cf.account_id,
            name=pulumi.Output.concat(f"{args.project}-{args.stack}-", suffix.hex),
            config_src=CONFIG_SRC,
            tunnel_secret=pulumi.Output.secret(
                secret.result.apply(lambda s: base64.b64encode(s.encode()).decode())
            ),
            opts=pulumi.ResourceOptions.merge(
                on_cloudflare, pulumi.ResourceOptions(replacement_trigger=suffix.hex)
            ),
        )
        guards = list(args.guards.values())
        cloudflare.ZeroTrustTunnelCloudflaredConfig(
            f"{name}-config",
            account_id=cf.account_id,
            tunnel_id=self.tunnel.id,
            config={"ingresses": ingress_rules(cf.hostnames)},
            opts=pulumi.ResourceOptions.merge(
                on_cloudflare, pulumi.ResourceOptions(depends_on=guards)
            ),
        )
        self.cname_target = self.tunnel.id.apply(lambda tid: f"{tid}.cfargotunnel.com")
        # A hostname the edge stack serves (`edge: true`) gets its route above but no record:
        # the edge stack's load balancer, with this tunnel as one pool, owns that name.
        for entry in (h for h in cf.hostnames if not h.edge):
            cloudflare.DnsRecord(
                f"{name}-dns-{entry.hostname.replace('*', 'wildcard')}",
                zone_id=cf.zone_id,
                name=entry.hostname,
                type="CNAME",
                content=self.cname_target,
                proxied=True,
                ttl=1,
                comment=f"Cloudflare Tunnel of {args.project}/{args.stack}; managed by Pulumi",
                opts=pulumi.ResourceOptions.merge(
                    on_cloudflare,
                    pulumi.ResourceOptions(
                        depends_on=[args.guards[entry.hostname]]
                        if entry.hostname in args.guards
                        else []
                    ),
                ),
            )
        self.token = pulumi.Output.secret(
            cloudflare.get_zero_trust_tunnel_cloudflared_token_output(
                account_id=cf.account_id,
                tunnel_id=self.tunnel.id,
                opts=pulumi.InvokeOutputOptions(parent=self, provider=args.cloudflare_provider),
            ).token
        )
        self.register_outputs({"tunnel_id": self.tunnel.id, "cname_target": self.cname_target})
