"""The `argocd_sso` section: SSO required where the local admin is off (staging, prod), someone
to administer Argo CD, no local admin in staging and prod, and values RBAC can read."""

from __future__ import annotations

import pytest

from config import validate
from tests.conftest import NS, stack_values, structured, with_key


def problems(stack: str, sso: dict | None) -> list[str]:
    values, secrets = stack_values(stack)
    values = (
        {k: v for k, v in values.items() if not k.endswith(":argocd_sso")}
        if sso is None
        else with_key(values, "argocd_sso", sso)
    )
    return [str(p) for p in validate(values, secrets).problems]


def shipped(stack: str) -> dict:
    return structured(stack_values(stack)[0], "argocd_sso")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_need_sso(stack: str) -> None:
    [problem] = problems(stack, None)
    assert problem.startswith(f"{NS}:argocd_sso.team_domain:")
    assert "single sign-on is its only login" in problem


def test_dev_may_go_without_sso() -> None:
    assert problems("dev", None) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_local_admin_in_staging_and_prod(stack: str) -> None:
    [problem] = problems(stack, {**shipped(stack), "local_admin": True})
    assert problem.startswith(f"{NS}:argocd_sso.local_admin: got True;")
    assert f"{stack} has no local Argo CD admin account" in problem


def test_dev_without_sso_cannot_lose_its_local_admin_too() -> None:
    [problem] = problems("dev", {"local_admin": False})
    assert problem.startswith(f"{NS}:argocd_sso.local_admin: got False;")
    assert "nobody could log in" in problem


def test_sso_needs_an_admin() -> None:
    [problem] = problems("prod", {**shipped("prod"), "admins": []})
    assert problem.startswith(f"{NS}:argocd_sso.admins:")


def test_sso_needs_someone_access_admits() -> None:
    values, secrets = stack_values("dev")
    cloudflare = structured(values, "cloudflare")
    cloudflare = {
        **cloudflare,
        "access": {"emails": []},
        "hostnames": [h for h in cloudflare["hostnames"] if not h.get("admin")],
    }
    found = [str(p) for p in validate(with_key(values, "cloudflare", cloudflare), secrets).problems]
    assert [p for p in found if p.startswith(f"{NS}:cloudflare.access:")], found
    assert any("Argo CD's login" in p for p in found)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("team_domain", "example.com", "<team-name>.cloudflareaccess.com"),
        ("team_domain", "https://example.cloudflareaccess.com", "cloudflareaccess.com"),
        ("admins", ["platform admins"], "without spaces, commas or #"),
        ("readers", ["a,b"], "without spaces, commas or #"),
        ("admins", ["#all"], "without spaces, commas or #"),
    ],
)
def test_a_bad_value_names_the_key_and_what_is_expected(
    field: str, value: object, expected: str
) -> None:
    found = problems("prod", {**shipped("prod"), field: value})
    assert found and found[0].startswith(f"{NS}:argocd_sso.{field}")
    assert expected in found[0]
