"""Argo CD's login through Cloudflare Access: an Access for SaaS OIDC application.

Access is the OIDC provider: Argo CD sends people to it, Access logs them in with the identity
provider it already uses (the same session as the self-hosted application in front of the UI),
lets in whoever the operators' policy admits, and hands Argo CD an ID token with their email and
groups. cloudflare/terraform-provider-cloudflare v5, `internal/services/
zero_trust_access_application/schema.go`: `saas_app.client_id` is computed, and
`saas_app.client_secret` computed and sensitive, returned only when the application is created
(`normalizations.go` keeps it from the state afterwards), so it is read from the resource's
outputs, never configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

#: Argo CD's OIDC callback (argo-cd v3.4.4 `common/common.go`, `CallbackEndpoint`).
CALLBACK_PATH = "/auth/callback"
#: What Argo CD asks Access for; `groups` carries the identity provider's groups, which the
#: RBAC policy matches (Cloudflare, "Generic OIDC application": openid, email, profile, groups).
SCOPES = ["openid", "email", "profile", "groups"]


def issuer(team_domain: str, client_id: str) -> str:
    """The application's OIDC issuer (its discovery document is below it, at
    `/.well-known/openid-configuration`)."""
    return f"https://{team_domain}/cdn-cgi/access/sso/oidc/{client_id}"


def logout_url(team_domain: str) -> str:
    """Ends the Access session too when someone logs out of Argo CD."""
    return f"https://{team_domain}/cdn-cgi/access/logout"


@dataclass(frozen=True)
class OidcClient:
    """What Argo CD needs to use the application."""

    issuer: pulumi.Output[str]
    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]
    """Secret."""
    logout_url: str

    def argocd_args(self) -> dict[str, Any]:
        """As `components.argocd.ArgoCdLogin` takes them."""
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "logout_url": self.logout_url,
        }


def argocd_oidc_application(
    name: str,
    *,
    account_id: str,
    stack: str,
    argocd_url: str,
    team_domain: str,
    policy_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> tuple[cloudflare.ZeroTrustAccessApplication, OidcClient]:
    """The SaaS application Argo CD logs in through, admitting whoever `policy_id` allows."""
    url = argocd_url.rstrip("/")
    application = cloudflare.ZeroTrustAccessApplication(
        name,
        account_id=account_id,
        name=f"Argo CD login ({stack})",
        type="saas",
        saas_app={
            "auth_type": "oidc",
            "redirect_uris": [url + CALLBACK_PATH],
            "grant_types": ["authorization_code"],
            "scopes": SCOPES,
            "app_launcher_url": url,
        },
        policies=[{"id": policy_id, "precedence": 1}],
        # The self-hosted application of the UI's hostname is the launcher's tile already.
        app_launcher_visible=False,
        opts=opts,
    )
    client_id = application.saas_app.apply(lambda app: str(app.client_id if app else ""))
    client = OidcClient(
        issuer=client_id.apply(lambda cid: issuer(team_domain, cid)),
        client_id=client_id,
        client_secret=pulumi.Output.secret(
            application.saas_app.apply(lambda app: str(app.client_secret if app else ""))
        ),
        logout_url=logout_url(team_domain),
    )
    return application, client
