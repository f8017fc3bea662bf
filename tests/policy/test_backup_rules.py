"""The backup bucket's token holds object read/write on that bucket only, and the bucket is
protected in prod: a mistake in either fails the preview, not only this repository's tests."""

from __future__ import annotations

import json

import pytest

from .graphs import one, recorded_plan, violations

TOKEN = "cloudflare:index/accountToken:AccountToken"
BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
ACCOUNT_WIDE_R2_WRITE = "bf7481a1826f439697cb59a20b22293e"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_recorded_token_and_bucket_pass(stack: str) -> None:
    doc = recorded_plan(stack)
    assert violations(doc, "tokens-scoped-to-buckets") == []
    assert violations(doc, "protected-in-prod") == []


def test_a_broader_permission_group_fails() -> None:
    doc = recorded_plan("prod")
    policy = one(doc, TOKEN)["inputs"]["policies"][0]
    policy["permissionGroups"].append({"id": ACCOUNT_WIDE_R2_WRITE})
    [found] = violations(doc, "tokens-scoped-to-buckets")
    assert ACCOUNT_WIDE_R2_WRITE in found.message and "backup-token" in found.message


@pytest.mark.parametrize(
    "resources",
    [
        {"com.cloudflare.api.account.0123456789abcdef0123456789abcdef": "*"},
        {"com.cloudflare.edge.r2.bucket.*": "*"},
        {},
    ],
)
def test_a_token_beyond_named_buckets_fails(resources: dict[str, str]) -> None:
    doc = recorded_plan("prod")
    one(doc, TOKEN)["inputs"]["policies"][0]["resources"] = json.dumps(resources)
    [found] = violations(doc, "tokens-scoped-to-buckets")
    assert "names its buckets one by one" in found.message


def test_a_deny_policy_may_be_as_broad_as_it_likes() -> None:
    doc = recorded_plan("prod")
    token = one(doc, TOKEN)
    token["inputs"]["policies"].append(
        {
            "effect": "deny",
            "permissionGroups": [{"id": ACCOUNT_WIDE_R2_WRITE}],
            "resources": json.dumps({"com.cloudflare.api.account.*": "*"}),
        }
    )
    assert violations(doc, "tokens-scoped-to-buckets") == []


def test_an_unprotected_bucket_in_prod_fails() -> None:
    doc = recorded_plan("prod")
    one(doc, BUCKET)["protect"] = False
    [found] = violations(doc, "protected-in-prod")
    assert "backup-bucket" in found.message
