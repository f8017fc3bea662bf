"""tools.github_settings: the repository's environments as the delivery design needs them, and
each gap named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import tools.github_settings as settings
from tools.github_settings import DEPLOY_ENVIRONMENTS, dev_shares_cloudflare, main, problems


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


def good() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    environments = {
        "total_count": 6,
        "environments": [
            {"name": "preview-dev", "protection_rules": [], "deployment_branch_policy": None},
            reviewed("preview-staging"),
            reviewed("preview-prod"),
            main_only({"name": "dev", "protection_rules": []}),
            main_only(reviewed("staging")),
            main_only(reviewed("prod")),
        ],
    }
    policies = {
        name: {"total_count": 1, "branch_policies": [{"name": "main", "type": "branch"}]}
        for name in DEPLOY_ENVIRONMENTS
    }
    return environments, policies


def test_the_documented_settings_pass() -> None:
    assert problems(*good()) == []


def env(environments: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [e for e in environments["environments"] if e["name"] == name]
    return found


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda e, p: e["environments"].pop(2), "preview-prod: missing"),
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
    environments, policies = good()
    [problem] = problems(environments, policies, dev_shares_account=True)
    assert problem.startswith("preview-dev: no required reviewers")
    assert "dev shares its Cloudflare account" in problem
    env(environments, "preview-dev").update(reviewed("preview-dev"))
    assert problems(environments, policies, dev_shares_account=True) == []


def test_the_shipped_stacks_share_one_cloudflare_account() -> None:
    """The examples use one account: their preview-dev would have to wait for a reviewer."""
    assert dev_shares_cloudflare(settings.stack_accounts())


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
