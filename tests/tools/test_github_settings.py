"""tools.github_settings: the repository's environments as the delivery design needs them, and
each gap named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import tools.github_settings as settings
from tools.github_settings import (
    DEPLOY_ENVIRONMENTS,
    PREVIEW_ENVIRONMENTS,
    dev_shares_cloudflare,
    main,
    problems,
)


def reviewed(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "protection_rules": [
            {
                "type": "required_reviewers",
                "prevent_self_review": True,
                "reviewers": [{"type": "Team", "reviewer": {"slug": "platform-owners"}}],
            }
        ],
        "deployment_branch_policy": None,
        "can_admins_bypass": False,
    }


def main_only(env: dict[str, Any]) -> dict[str, Any]:
    return {
        **env,
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    }


def unreviewed(name: str) -> dict[str, Any]:
    return {"name": name, "protection_rules": [], "deployment_branch_policy": None}


def good() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The settings docs/delivery.md describes, as GitHub's REST API answers them."""
    listed = [
        reviewed(name) if needs_review else unreviewed(name)
        for name, needs_review in PREVIEW_ENVIRONMENTS.items()
    ] + [
        main_only(reviewed(name) if needs_review else unreviewed(name))
        for name, needs_review in DEPLOY_ENVIRONMENTS.items()
    ]
    environments = {"total_count": len(listed), "environments": listed}
    policies = {
        name: {"total_count": 1, "branch_policies": [{"name": "main", "type": "branch"}]}
        for name in DEPLOY_ENVIRONMENTS
    }
    return environments, policies


def test_the_documented_settings_pass() -> None:
    assert problems(*good()) == []


def test_every_stack_of_both_prod_clusters_and_the_edge_is_reviewed_and_deploys_from_main() -> None:
    """The second cluster and the edge stack are prod: the same approvals as prod."""
    assert list(DEPLOY_ENVIRONMENTS) == ["dev", "staging", "prod", "prod-b", "prod-edge"]
    assert {f"preview-{s}": s != "dev" for s in DEPLOY_ENVIRONMENTS} == PREVIEW_ENVIRONMENTS
    assert all(DEPLOY_ENVIRONMENTS[s] for s in ("staging", "prod", "prod-b", "prod-edge"))


def env(environments: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [e for e in environments["environments"] if e["name"] == name]
    return found


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda e, p: e["environments"].pop(2), "preview-prod: missing"),
        (
            lambda e, p: e["environments"].remove(env(e, "prod-edge")),
            "prod-edge: missing",
        ),
        (
            lambda e, p: env(e, "preview-prod-b").update(protection_rules=[]),
            "preview-prod-b: no required reviewers",
        ),
        (
            lambda e, p: p["prod-edge"]["branch_policies"].append({"name": "edge/*"}),
            "prod-edge: deployable from ['branch edge/*', 'branch main']",
        ),
        (lambda e, p: env(e, "preview-prod").update(protection_rules=[]), "no required reviewers"),
        (
            lambda e, p: env(e, "prod")["protection_rules"][0].update(prevent_self_review=False),
            "prod: reviewers may approve their own runs",
        ),
        (
            lambda e, p: env(e, "staging").update(deployment_branch_policy=None),
            "staging: deployable from any branch",
        ),
        (
            lambda e, p: p["prod"]["branch_policies"].append({"name": "release/*"}),
            "prod: deployable from ['branch main', 'branch release/*']",
        ),
        (lambda e, p: p.pop("dev"), "dev: deployable from no branch"),
        (
            lambda e, p: p["prod"]["branch_policies"].append({"name": "v*", "type": "tag"}),
            "prod: deployable from ['branch main', 'tag v*']",
        ),
        (
            lambda e, p: env(e, "prod").update(can_admins_bypass=True),
            "prod: administrators may bypass its reviewers",
        ),
        (
            lambda e, p: env(e, "staging").update(
                deployment_branch_policy={
                    "protected_branches": True,
                    "custom_branch_policies": False,
                }
            ),
            "staging: deployable from every protected branch",
        ),
    ],
)
def test_each_gap_is_named(breakage, expected: str) -> None:
    environments, policies = copy.deepcopy(good())
    breakage(environments, policies)
    assert any(expected in p for p in problems(environments, policies)), problems(
        environments, policies
    )


def test_a_dev_stack_on_prods_cloudflare_account_needs_reviewed_previews_too() -> None:
    assert dev_shares_cloudflare({"dev": "a", "staging": "b", "prod": "a"})
    assert not dev_shares_cloudflare({"dev": "a", "staging": "b", "prod": "c"})
    # Any other stack counts: the edge stack's load balancers are prod's too.
    assert dev_shares_cloudflare({"dev": "a", "prod": "c", "prod-edge": "a"})
    assert not dev_shares_cloudflare({"dev": "a"})
    environments, policies = good()
    [problem] = problems(environments, policies, dev_shares_account=True)
    assert problem.startswith("preview-dev: no required reviewers")
    assert "dev shares its Cloudflare account" in problem
    env(environments, "preview-dev").update(reviewed("preview-dev"))
    assert problems(environments, policies, dev_shares_account=True) == []


def test_the_shipped_stacks_share_one_cloudflare_account() -> None:
    """The examples use one account: their preview-dev would have to wait for a reviewer."""
    accounts = settings.stack_accounts()
    assert dev_shares_cloudflare(accounts)
    # Every stack file is read, the edge stack's `edge.account_id` included.
    assert set(accounts) == set(DEPLOY_ENVIRONMENTS)


def test_the_accounts_are_read_from_every_stack_file(tmp_path: Path) -> None:
    """A stack file not (yet) named in the environments counts too."""
    from offline.paths import REPO_ROOT

    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  talos-platform:cloudflare:\n    account_id: aaaa\n"
    )
    (tmp_path / "Pulumi.lab-edge.yaml").write_text(
        "config:\n  talos-platform:edge:\n    account_id: aaaa\n"
    )
    assert settings.stack_accounts(tmp_path) == {"dev": "aaaa", "lab-edge": "aaaa"}


def test_the_cli_reads_the_api_answers_and_fails_on_a_gap(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "stack_accounts", lambda: {"dev": "a", "prod": "b"})
    environments, policies = good()
    (tmp_path / "environments.json").write_text(json.dumps(environments))
    for name, answer in policies.items():
        (tmp_path / f"branch-policies-{name}.json").write_text(json.dumps(answer))
    assert main([str(tmp_path)]) == 0
    env(environments, "preview-staging")["protection_rules"] = []
    (tmp_path / "environments.json").write_text(json.dumps(environments))
    assert main([str(tmp_path)]) == 1
    assert "::error::preview-staging: no required reviewers" in capsys.readouterr().out
    (tmp_path / "environments.json").write_text("not json")
    assert main([str(tmp_path)]) == 2
