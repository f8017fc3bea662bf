"""Cloudflare Access in front of the admin hostnames: one allow policy for the configured people,
one self-hosted Access application per admin hostname, and, with `argocd_sso`, the OIDC
application Argo CD logs people in through (`sso.py`), admitting the same people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from config.models import AccessConfig, PublicHostname

from .. import type_token
from .sso import OidcClient, argocd_oidc_application


def include_rules(access: AccessConfig) -> list[dict[str, Any]]:
    """The policy's `include` list: anyone matching one entry is let in (after logging in)."""
    return [
        *({"email": {"email": e}} for e in access.emails),
        *({"email_domain": {"domain": d}} for d in access.email_domains),
        *({"group": {"id": g}} for g in access.groups),
    ]


def webhook_path(hostname: str) -> str:
    """The Argo CD API path Git hosts post push events to."""
    return f"{hostname}/api/webhook"


@dataclass(frozen=True)
class AdminAccessArgs:
    account_id: str
    access: AccessConfig
    hostnames: list[PublicHostname]
    """Only the admin ones."""
    stack: str
    cloudflare_provider: pulumi.ProviderResource
    webhook_hostname: str | None = None
    """The Argo CD hostname whose `/api/webhook` a Git host calls (a webhook secret is set)."""
    argocd_url: str | None = None
    """Argo CD's external URL, where its OIDC callback is."""
    sso_team_domain: str | None = None
    """`<team>.cloudflareaccess.com`: Argo CD logs in through Access (config `argocd_sso`)."""


class AdminAccess(pulumi.ComponentResource):
    """Access applications that gate every admin hostname."""

    applications: dict[str, cloudflare.ZeroTrustAccessApplication]
    """The login-gated application of each admin hostname."""
    webhook_bypass: cloudflare.ZeroTrustAccessApplication | None
    """The bypass for the Argo CD hostname's `/api/webhook`, when a webhook secret is set."""
    argocd_login: cloudflare.ZeroTrustAccessApplication | None
    """The OIDC application Argo CD logs in through, with `sso_team_domain`."""
    argocd_oidc: OidcClient | None
    """Its issuer and client credentials, for Argo CD's `oidc.config`."""

    def __init__(
        self, name: str, args: AdminAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("cloudflare", "AdminAccess"), name, {}, opts)
        on_cloudflare = pulumi.ResourceOptions(parent=self, provider=args.cloudflare_provider)
        self.applications = {}
        self.argocd_login = self.argocd_oidc = None
        policy = None
        if args.hostnames or args.sso_team_domain:
            policy = cloudflare.ZeroTrustAccessPolicy(
                f"{name}-operators",
                account_id=args.account_id,
                name=f"{args.stack} operators",
                decision="allow",
                includes=include_rules(args.access),
                session_duration=args.access.session_duration,
                opts=on_cloudflare,
            )
        if policy is not None:
            for entry in args.hostnames:
                self.applications[entry.hostname] = cloudflare.ZeroTrustAccessApplication(
                    f"{name}-{entry.hostname.replace('*', 'wildcard')}",
                    account_id=args.account_id,
                    name=f"{entry.hostname} ({args.stack})",
                    type="self_hosted",
                    domain=entry.hostname,
                    destinations=[{"type": "public", "uri": entry.hostname}],
                    policies=[{"id": policy.id, "precedence": 1}],
                    session_duration=args.access.session_duration,
                    app_launcher_visible=True,
                    opts=on_cloudflare,
                )
        self.webhook_bypass = (
            self._webhook_bypass(name, args, on_cloudflare)
            if args.webhook_hostname in self.applications
            else None
        )
        if policy is not None and args.sso_team_domain and args.argocd_url:
            self.argocd_login, self.argocd_oidc = argocd_oidc_application(
                f"{name}-argocd-login",
                account_id=args.account_id,
                stack=args.stack,
                argocd_url=args.argocd_url,
                team_domain=args.sso_team_domain,
                policy_id=policy.id,
                opts=on_cloudflare,
            )
        self.register_outputs(
            {
                "protected_hostnames": sorted(self.applications),
                "argocd_issuer": self.argocd_oidc.issuer if self.argocd_oidc else None,
            }
        )

    def _webhook_bypass(
        self, name: str, args: AdminAccessArgs, opts: pulumi.ResourceOptions
    ) -> cloudflare.ZeroTrustAccessApplication:
        """A Git host cannot log in: its pushes reach `/api/webhook` through a bypass. Access
        matches the most specific path first, so the rest of the UI stays behind the login
        (Cloudflare Access, "Application paths"); Argo CD checks each payload's signature
        against the shared secret and ignores unsigned ones."""
        path = webhook_path(str(args.webhook_hostname))
        bypass = cloudflare.ZeroTrustAccessPolicy(
            f"{name}-git-webhook",
            account_id=args.account_id,
            name=f"{args.stack} Git webhook",
            decision="bypass",
            includes=[{"everyone": {}}],
            opts=opts,
        )
        return cloudflare.ZeroTrustAccessApplication(
            f"{name}-git-webhook",
            account_id=args.account_id,
            name=f"{path} ({args.stack})",
            type="self_hosted",
            domain=path,
            destinations=[{"type": "public", "uri": path}],
            policies=[{"id": bypass.id, "precedence": 1}],
            app_launcher_visible=False,
            opts=opts,
        )
