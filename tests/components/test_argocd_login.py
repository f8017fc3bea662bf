"""Argo CD's login: SSO through a Cloudflare Access OIDC application, RBAC from the stack's
`argocd_sso`, and no local admin in staging and prod (docs/platform.md, "Argo CD login")."""

from __future__ import annotations

import pytest
import yaml

from offline.answers.fabricate import digest
from tests.conftest import STACKS, by_type, recorded, stack_values, structured, with_key

ACCESS_APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
ACCESS_POLICY = "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"


def login_app(run):
    [app] = [a for a in by_type(run, ACCESS_APP) if a.inputs["type"] == "saas"]
    return app


def argocd_configs(run) -> dict:
    release = next(r for r in by_type(run, RELEASE) if r.name == "argocd")
    return release.inputs["values"]["configs"]


@pytest.mark.parametrize("stack", STACKS)
def test_argocd_logs_in_through_an_access_oidc_application(stack: str) -> None:
    run = recorded(stack)
    app = login_app(run)
    url = argocd_configs(run)["cm"]["url"]
    saas = app.inputs["saasApp"]
    assert saas["authType"] == "oidc"
    assert saas["redirectUris"] == [f"{url}/auth/callback"]
    assert saas["scopes"] == ["openid", "email", "profile", "groups"]
    # Admitting exactly the operators the admin hostnames admit.
    [operators] = [p for p in by_type(run, ACCESS_POLICY) if p.inputs["decision"] == "allow"]
    assert app.property_dependencies["policies"] == [operators.urn]
    oidc = yaml.safe_load(argocd_configs(run)["cm"]["oidc.config"])
    team = structured(stack_values(stack)[0], "argocd_sso")["team_domain"]
    client_id = oidc["clientID"]
    assert oidc["issuer"] == f"https://{team}/cdn-cgi/access/sso/oidc/{client_id}"
    assert oidc["clientSecret"] == "$argocd-oidc-cloudflare:clientSecret"
    assert oidc["requestedScopes"] == ["openid", "email", "profile", "groups"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_client_secret_reaches_a_labelled_secret_and_stays_secret(stack: str) -> None:
    run = recorded(stack)
    [secret] = [s for s in by_type(run, SECRET) if s.name == "argocd-oidc"]
    assert secret.inputs["metadata"]["name"] == "argocd-oidc-cloudflare"
    # Argo CD reads `$<secret>:<key>` only from Secrets labelled part-of argocd.
    assert secret.inputs["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
    assert secret.inputs["stringData"] == "[secret]"
    assert "stringData" in secret.secret_inputs
    release = next(r for r in by_type(run, RELEASE) if r.name == "argocd")
    assert release.urn in secret.dependencies  # the release's namespace
    # The value the mocked provider hands out appears in no Helm value: only the reference.
    fabricated = digest("client-secret", ACCESS_APP, login_app(run).name)
    assert fabricated not in str(release.inputs)
    assert "$argocd-oidc-cloudflare:clientSecret" in argocd_configs(run)["cm"]["oidc.config"]


@pytest.mark.parametrize(
    ("stack", "local_admin"), [("dev", True), ("staging", False), ("prod", False)]
)
def test_the_local_admin_is_off_in_staging_and_prod(stack: str, local_admin: bool) -> None:
    assert argocd_configs(recorded(stack))["cm"]["admin.enabled"] is local_admin


def test_rbac_gives_admins_and_readers_their_roles_and_nobody_else_any() -> None:
    rbac = argocd_configs(recorded("prod"))["rbac"]
    assert rbac["policy.default"] == ""
    assert rbac["scopes"] == "[groups, email]"
    assert rbac["policy.csv"].splitlines() == [
        "g, platform-admins, role:admin",
        "g, ops@example.com, role:admin",
        "g, developers, role:readonly",
    ]


def test_dev_without_sso_keeps_the_local_admin_and_creates_no_login() -> None:
    values, secrets = stack_values("dev")
    values = {k: v for k, v in values.items() if not k.endswith(":argocd_sso")}
    run = recorded("dev", values, secrets)
    assert not [a for a in by_type(run, ACCESS_APP) if a.inputs["type"] == "saas"]
    assert not [s for s in by_type(run, SECRET) if s.name == "argocd-oidc"]
    cm = argocd_configs(run)["cm"]
    assert cm["admin.enabled"] is True and "oidc.config" not in cm


def test_dev_can_turn_its_local_admin_off() -> None:
    values, secrets = stack_values("dev")
    sso = {**structured(values, "argocd_sso"), "local_admin": False}
    run = recorded("dev", with_key(values, "argocd_sso", sso), secrets)
    assert argocd_configs(run)["cm"]["admin.enabled"] is False
