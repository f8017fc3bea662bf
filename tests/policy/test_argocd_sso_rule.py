"""The `argocd-sso-only` policy: in staging and prod the argo-cd release keeps no local admin and
logs in through OIDC; a stack whose values say otherwise fails the preview, whatever its config
validation did."""

from __future__ import annotations

import pytest

from .graphs import one, recorded_plan, violations

RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_recorded_releases_pass(stack: str) -> None:
    assert violations(recorded_plan(stack), "argocd-sso-only") == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_local_admin_fails(stack: str) -> None:
    doc = recorded_plan(stack)
    one(doc, RELEASE, "argocd")["inputs"]["values"]["configs"]["cm"]["admin.enabled"] = True
    [found] = violations(doc, "argocd-sso-only")
    assert '"admin.enabled" must be false' in found.message


def test_no_oidc_config_fails_in_prod_only() -> None:
    doc = recorded_plan("prod")
    del one(doc, RELEASE, "argocd")["inputs"]["values"]["configs"]["cm"]["oidc.config"]
    [found] = violations(doc, "argocd-sso-only")
    assert '"oidc.config" must be set' in found.message
    assert violations(doc, "argocd-sso-only", environment="dev") == []


def test_other_releases_are_not_its_business() -> None:
    doc = recorded_plan("prod")
    cilium = one(doc, RELEASE, "cilium")
    cilium["inputs"]["values"]["configs"] = {"cm": {"admin.enabled": True}}
    assert violations(doc, "argocd-sso-only") == []
