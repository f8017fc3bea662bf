"""Argo CD's first sync finds what it needs: the root Application waits for the repository
credentials of a private repository; a webhook secret needs a hostname to be called on."""

from __future__ import annotations

from config import validate
from tests.conftest import NS, by_type, recorded, stack_values, structured, with_key

SECRET = "kubernetes:core/v1:Secret"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"


def test_root_application_waits_for_the_repository_credentials() -> None:
    values, secrets = stack_values("prod")
    values = {**values, f"{NS}:gitops_token": "s3cr3t-value"}
    run = recorded("prod", values, secrets | {f"{NS}:gitops_token"})
    (repository,) = [r for r in by_type(run, SECRET) if r.name == "argocd-repository"]
    (root,) = by_type(run, APPLICATION)
    assert repository.urn in root.dependencies


def test_a_webhook_secret_without_an_argocd_hostname_is_refused() -> None:
    values, secrets = stack_values("prod")
    cf = structured(values, "cloudflare")
    cf["hostnames"] = [h for h in cf["hostnames"] if "argocd-server." not in h["service"]]
    values = with_key(values, "cloudflare", cf)
    values[f"{NS}:argocd_webhook_secret"] = "s3cr3t-value"
    found = validate(values, secrets | {f"{NS}:argocd_webhook_secret"}).problems
    assert [p.key for p in found] == [f"{NS}:argocd_webhook_secret"]
    assert "s3cr3t-value" not in str(found[0])
