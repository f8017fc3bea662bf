"""Argo CD login through the organisation's identity: the `argocd_sso` section and its rules.

Argo CD logs people in through a Cloudflare Access for SaaS OIDC application (the program creates
it: `components/cloudflare/sso.py`), so whoever may pass Access (`cloudflare.access`) logs in with
the identity provider Access already uses, and Argo CD's RBAC maps their groups (or emails) to
roles. Staging and prod have no local `admin` account: SSO is required there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

from .errors import ConfigProblem, key

if TYPE_CHECKING:
    from .models import ArgoCdSsoConfig, CloudflareConfig

SSO_REQUIRED = ("staging", "prod")
"""Environments whose Argo CD has no local admin account, so SSO is their only login."""

_TEAM_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.cloudflareaccess\.com$")
_SUBJECT = re.compile(r"^[^\s,#]+$")


def _team_domain(value: str) -> str:
    if not _TEAM_DOMAIN.match(value):
        raise ValueError(
            "expected the Zero Trust team domain, <team-name>.cloudflareaccess.com "
            "(Zero Trust -> Settings -> Custom Pages)"
        )
    return value


def _subject(value: str) -> str:
    # A line of Argo CD's policy.csv: a comma, `#` or blank would split or end the line.
    if not _SUBJECT.match(value):
        raise ValueError(
            "expected an identity-provider group name or an email, without spaces, commas or #"
        )
    return value


TeamDomain = Annotated[str, AfterValidator(_team_domain)]
Subject = Annotated[str, AfterValidator(_subject)]


def local_admin(sso: ArgoCdSsoConfig, environment: str) -> bool:
    """Whether the environment keeps Argo CD's local `admin` account."""
    if environment in SSO_REQUIRED:
        return False
    return sso.local_admin is not False


def sso_rules(
    sso: ArgoCdSsoConfig, environment: str | None, cloudflare: CloudflareConfig | None
) -> list[ConfigProblem]:
    """SSO where the local admin is off; someone to administer it and someone Access admits;
    no local admin in staging and prod."""
    problems: list[ConfigProblem] = []
    section = "argocd_sso"
    access = cloudflare.access if cloudflare is not None else None
    admin_hostnames = cloudflare is not None and any(h.admin for h in cloudflare.hostnames)
    # With admin hostnames, the access rules report an empty policy already.
    nobody = access is not None and not (access.emails or access.email_domains or access.groups)
    if sso.enabled and nobody and not admin_hostnames:
        problems.append(
            ConfigProblem(
                key("cloudflare.access"),
                access.model_dump() if access is not None else None,
                "at least one of emails, email_domains or groups: Argo CD's login "
                "(argocd_sso) admits only whom this Access policy admits",
            )
        )
    if environment in SSO_REQUIRED and not sso.enabled:
        problems.append(
            ConfigProblem(
                key(f"{section}.team_domain"),
                None,
                f"<team-name>.cloudflareaccess.com: {environment} has no local Argo CD admin, "
                "so single sign-on is its only login (docs/gitops.md, Argo CD login)",
            )
        )
    if sso.enabled and not sso.admins:
        problems.append(
            ConfigProblem(
                key(f"{section}.admins"),
                [],
                "at least one group or email: with SSO on, nobody would administer Argo CD",
            )
        )
    if environment in SSO_REQUIRED and sso.local_admin:
        problems.append(
            ConfigProblem(
                key(f"{section}.local_admin"),
                True,
                f"false or unset: {environment} has no local Argo CD admin account",
            )
        )
    if environment not in SSO_REQUIRED and sso.local_admin is False and not sso.enabled:
        problems.append(
            ConfigProblem(
                key(f"{section}.local_admin"),
                False,
                "true or unset without SSO (argocd_sso.team_domain): nobody could log in",
            )
        )
    return problems
