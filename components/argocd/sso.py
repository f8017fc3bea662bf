"""Argo CD's single sign-on and RBAC: the `oidc.config`, the RBAC policy and the Secret holding
the OIDC client secret (docs/gitops.md, "Argo CD login").

argo-cd v3.4.4 `docs/operator-manual/user-management/index.md`: `oidc.config` configures an
external OIDC provider (here Cloudflare Access, `components/cloudflare/sso.py`), and a value
`$<secret>:<key>` is read from that Secret, which must carry `app.kubernetes.io/part-of: argocd`.
`docs/operator-manual/rbac.md`: `policy.csv` lines `g, <group or email>, <role>` bind subjects
found in the token's `scopes` claims to roles; `policy.default` is what everyone else gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from ..kubernetes.objects import secret_manifest as opaque_secret
from .root_app import NAMESPACE

SECRET_NAME = "argocd-oidc-cloudflare"
CLIENT_SECRET_KEY = "clientSecret"
PROVIDER_NAME = "Cloudflare Access"

ADMIN_ROLE = "role:admin"
READONLY_ROLE = "role:readonly"
#: Logged in, but in no group or email the policy names: no role at all (the chart's default
#: too, upstream/charts/argo-cd/values.yaml `configs.rbac."policy.default"`, made explicit).
DEFAULT_ROLE = ""
#: The claims RBAC matches subjects in: IdP groups, and emails for single people.
RBAC_SCOPES = "[groups, email]"


@dataclass(frozen=True)
class ArgoCdLogin:
    """Argo CD's login: SSO through an OIDC provider (optional) and the local admin account."""

    local_admin: bool
    issuer: pulumi.Output[str] | None = None
    client_id: pulumi.Output[str] | None = None
    client_secret: pulumi.Output[str] | None = None
    logout_url: str | None = None
    admins: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)

    @property
    def sso(self) -> bool:
        return self.issuer is not None


def oidc_config(issuer: str, client_id: str, logout_url: str | None) -> str:
    """The `oidc.config` YAML text (keys: argo-cd `util/settings/settings.go`, `OIDCConfig`)."""
    lines = [
        f"name: {PROVIDER_NAME}",
        f"issuer: {issuer}",
        f"clientID: {client_id}",
        f"clientSecret: ${SECRET_NAME}:{CLIENT_SECRET_KEY}",
        "requestedScopes: [openid, email, profile, groups]",
    ]
    if logout_url:
        lines.append(f"logoutURL: {logout_url}")
    return "\n".join(lines) + "\n"


def policy_csv(admins: list[str], readers: list[str]) -> str:
    lines = [f"g, {s}, {ADMIN_ROLE}" for s in admins]
    lines += [f"g, {s}, {READONLY_ROLE}" for s in readers]
    return "\n".join(lines) + ("\n" if lines else "")


def cm_values(login: ArgoCdLogin) -> dict[str, Any]:
    """The `configs.cm` entries of the login."""
    values: dict[str, Any] = {"admin.enabled": login.local_admin}
    if login.issuer is not None and login.client_id is not None:
        values["oidc.config"] = pulumi.Output.all(login.issuer, login.client_id).apply(
            lambda ic: oidc_config(ic[0], ic[1], login.logout_url)
        )
    return values


def rbac_values(login: ArgoCdLogin) -> dict[str, Any]:
    """`configs.rbac`: who gets which role."""
    return {
        "policy.default": DEFAULT_ROLE,
        "policy.csv": policy_csv(login.admins, login.readers),
        "scopes": RBAC_SCOPES,
    }


def secret_manifest(client_secret: object) -> dict[str, Any]:
    """The Secret `oidc.config` reads the client secret from (pass it as a secret Output)."""
    return opaque_secret(
        SECRET_NAME,
        NAMESPACE,
        {"app.kubernetes.io/part-of": "argocd"},
        {CLIENT_SECRET_KEY: client_secret},
    )
