"""No workflow hands pull-request code a credential beyond its stack's preview
(docs/delivery.md, "Threat model"); each way to break that is shown to fail."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from offline.paths import REPO_ROOT

from .test_workflows import WORKFLOWS, workflow
from .workflow_trust import (
    DEPLOY_REVIEWS,
    DEPLOY_RUNNER_GROUP,
    PREVIEW_ENVIRONMENTS,
    PREVIEW_RUNNER_GROUP,
    trust_problems,
)

Workflows = dict[str, dict[str, Any]]


def shipped() -> Workflows:
    return {p.name: workflow(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def test_the_shipped_workflows_give_pull_requests_nothing_beyond_their_preview() -> None:
    assert trust_problems(shipped()) == []


def test_the_preview_runs_each_stack_in_its_own_environment_with_its_own_team_token() -> None:
    preview = shipped()["pull-request.yml"]["jobs"]["preview"]
    assert preview["environment"] == "preview-${{ matrix.stack }}"
    assert preview["runs-on"]["group"] == PREVIEW_RUNNER_GROUP
    [auth] = [s["with"] for s in preview["steps"] if "pulumi/auth-actions@" in s.get("uses", "")]
    assert auth["scope"] == "team:preview-${{ matrix.stack }}"


def preview(wfs: Workflows) -> dict[str, Any]:
    return wfs["pull-request.yml"]["jobs"]["preview"]


def auth(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if "pulumi/auth-actions@" in s.get("uses", "")]
    return step["with"]


def pulumi(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if "pulumi/actions@" in s.get("uses", "")]
    return step["with"]


def organization_token(wfs: Workflows) -> None:
    auth(preview(wfs))["requested-token-type"] = "urn:pulumi:token-type:access_token:organization"
    del auth(preview(wfs))["scope"]


def no_environment(wfs: Workflows) -> None:
    del preview(wfs)["environment"]


def prod_under_the_dev_environment(wfs: Workflows) -> None:
    preview(wfs)["environment"] = "preview-dev"
    auth(preview(wfs))["scope"] = "team:preview-dev"


def the_deploy_environment(wfs: Workflows) -> None:
    preview(wfs)["environment"] = "${{ matrix.stack }}"


def a_broader_team(wfs: Workflows) -> None:
    auth(preview(wfs))["scope"] = "team:platform"


def the_deploy_runner(wfs: Workflows) -> None:
    preview(wfs)["runs-on"]["group"] = DEPLOY_RUNNER_GROUP


def forks_too(wfs: Workflows) -> None:
    del preview(wfs)["if"]


def pulumi_up(wfs: Workflows) -> None:
    pulumi(preview(wfs))["command"] = "up"


def pulumi_cli_in_a_script(wfs: Workflows) -> None:
    preview(wfs)["steps"].append({"run": 'pulumi config --show-secrets --stack "$STACK"'})


def pull_request_target(wfs: Workflows) -> None:
    wfs["pull-request.yml"]["on"] = {"pull_request_target": None}


def a_secret(wfs: Workflows) -> None:
    preview(wfs)["env"] = {"TOKEN": "${{ secrets.PROXMOX_TOKEN }}"}


def deploy_called_from_a_pull_request(wfs: Workflows) -> None:
    wfs["pull-request.yml"]["jobs"]["up"] = copy.deepcopy(wfs["deploy.yml"]["jobs"]["prod"])


def deploy_token_outside_its_environment(wfs: Workflows) -> None:
    [up] = wfs["pulumi-up.yml"]["jobs"].values()
    up["environment"] = "dev"


def cancels_a_prod_update(wfs: Workflows) -> None:
    preview(wfs)["concurrency"] = {"group": "pulumi-stack-prod", "cancel-in-progress": True}


def cancels_every_update(wfs: Workflows) -> None:
    wfs["pull-request.yml"]["concurrency"] = {"group": "pulumi-stack-${{ github.ref }}"}


def merge_queue_preview_of_prod_without_the_guard(wfs: Workflows) -> None:
    wfs["pull-request.yml"]["on"] = {"merge_group": None}
    del preview(wfs)["if"]


def a_push_workflow_in_the_prod_group(wfs: Workflows) -> None:
    wfs["scan.yml"]["jobs"]["checkov"]["concurrency"] = {"group": "pulumi-stack-prod"}


def the_update_cancelling_itself(wfs: Workflows) -> None:
    [up] = wfs["pulumi-up.yml"]["jobs"].values()
    up["concurrency"]["cancel-in-progress"] = True


def a_stack_without_its_environments(wfs: Workflows) -> None:
    """A third prod cluster added to the preview, but not to tools/github_settings.py: no one
    checks that its environment requires a reviewer."""
    preview(wfs)["strategy"]["matrix"]["stack"].append("prod-c")


def the_edge_logs_in_as_a_cluster_too(wfs: Workflows) -> None:
    """The edge stack reads prod's outputs, so someone adds prod's preview token to its job: the
    edge's own team is given read on the cluster stacks instead (docs/delivery.md)."""
    auth_step = next(
        s for s in preview(wfs)["steps"] if "pulumi/auth-actions@" in s.get("uses", "")
    )
    preview(wfs)["steps"].append(
        copy.deepcopy(auth_step) | {"with": {**auth_step["with"], "scope": "team:preview-prod"}}
    )


def the_edge_deployed_from_a_pull_request(wfs: Workflows) -> None:
    wfs["pull-request.yml"]["jobs"]["edge"] = copy.deepcopy(wfs["deploy.yml"]["jobs"]["prod-edge"])


def the_deploy_on_pull_requests_too(wfs: Workflows) -> None:
    """deploy.yml can be run on demand; someone adds pull requests to its triggers as well."""
    wfs["deploy.yml"]["on"]["pull_request"] = None


def drift_with_an_organization_token(wfs: Workflows) -> None:
    auth(wfs["drift.yml"]["jobs"]["drift"])["requested-token-type"] = (
        "urn:pulumi:token-type:access_token:organization"
    )


BREAKAGES: dict[Callable[[Workflows], None], str] = {
    organization_token: r"pull-request.yml:preview .*organization token",
    no_environment: r"previews 'dev' in environment None, not 'preview-dev'",
    prod_under_the_dev_environment: r"previews 'prod' in environment 'preview-dev'",
    the_deploy_environment: r"deploy environment 'prod' \(its claim gets Stack Write\)",
    a_broader_team: r"scope 'team:platform', not 'team:preview-staging'",
    the_deploy_runner: r"runner group 'talos-platform'",
    forks_too: r"OIDC token without the fork guard",
    pulumi_up: r"pulumi/actions command 'up' in a PR",
    pulumi_cli_in_a_script: r"runs the Pulumi CLI in a script",
    pull_request_target: r"on pull_request_target: runs with the base repository's secrets",
    a_secret: r"reads repository secrets in pull-request code",
    deploy_called_from_a_pull_request: r"pull-request.yml:up -> pulumi-up.yml:up.*'prod'",
    deploy_token_outside_its_environment: r"deploy token 'team:deploy-staging' outside",
    drift_with_an_organization_token: r"drift.yml:drift .*organization token",
    the_deploy_on_pull_requests_too: (
        r"deploy.yml:prod-edge -> pulumi-up.yml:up: runs pull-request code in the deploy "
        r"environment 'prod-edge'"
    ),
    cancels_a_prod_update: r"joins the stack's update group 'pulumi-stack-prod'",
    cancels_every_update: r"pull-request.yml \(workflow\): joins the stack's update group",
    a_push_workflow_in_the_prod_group: r"scan.yml:checkov: joins a stack's update group",
    the_update_cancelling_itself: r"pulumi-up.yml:up: cancels in the stack's update group",
    merge_queue_preview_of_prod_without_the_guard: r"OIDC token without the fork guard",
    a_stack_without_its_environments: r"unknown environment 'preview-prod-c'",
    the_edge_logs_in_as_a_cluster_too: (
        r"preview \{'stack': 'prod-edge'\}: Pulumi token scope 'team:preview-prod', "
        r"not 'team:preview-prod-edge'"
    ),
    the_edge_deployed_from_a_pull_request: (
        r"pull-request.yml:edge -> pulumi-up.yml:up: runs pull-request code in the deploy "
        r"environment 'prod-edge'"
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES), ids=lambda f: f.__name__)
def test_a_workflow_that_hands_pull_requests_more_fails(
    breakage: Callable[[Workflows], None],
) -> None:
    wfs = shipped()
    breakage(wfs)
    problems = trust_problems(wfs)
    assert any(re.search(BREAKAGES[breakage], p) for p in problems), problems


def test_the_docs_name_the_same_environments_runner_groups_and_approvals() -> None:
    docs = (REPO_ROOT / "docs" / "delivery.md").read_text()
    for name, reviewed in {**PREVIEW_ENVIRONMENTS, **DEPLOY_REVIEWS}.items():
        [row] = [line for line in docs.splitlines() if line.startswith(f"| `{name}` |")]
        assert ("none" not in row.split("|")[2]) == reviewed, row
    assert f"`{PREVIEW_RUNNER_GROUP}`" in docs and f"`{DEPLOY_RUNNER_GROUP}`" in docs
    # Every stack's two teams in the Credentials table (the first column of a row).
    teams = " ".join(line.split("|")[1] for line in docs.splitlines() if line.startswith("   | `"))
    for stack in DEPLOY_REVIEWS:
        assert f"`preview-{stack}`" in teams and f"`deploy-{stack}`" in teams, stack
