"""Explicit providers for Proxmox VE and Cloudflare, configured from the validated stack config.

Explicit providers (not the default ones) so that credentials come only from this stack's secret
config and never from whatever environment variables the shell happens to have.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_proxmoxve as proxmoxve

from config import Secrets, StackConfig


@dataclass(frozen=True)
class Providers:
    proxmox: proxmoxve.Provider
    cloudflare: cloudflare.Provider


def cloudflare_provider(api_token: pulumi.Input[str]) -> cloudflare.Provider:
    """The Cloudflare provider of a stack (a cluster's or the edge's), from its secret token."""
    return cloudflare.Provider("cloudflare", api_token=pulumi.Output.secret(api_token))


def make_providers(stack: StackConfig, secrets: Secrets) -> Providers:
    return Providers(
        proxmox=proxmoxve.Provider(
            "proxmox",
            endpoint=stack.proxmox.endpoint,
            insecure=stack.proxmox.insecure,
            api_token=pulumi.Output.secret(secrets.proxmox_api_token),
        ),
        cloudflare=cloudflare_provider(secrets.cloudflare_api_token),
    )
