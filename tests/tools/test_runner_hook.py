"""The self-hosted runners' job-started hook (tools/runner): a deploy runner runs main's own
events only, a preview runner pull requests from this repository only; anything else is refused
before the job's first step."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline.paths import REPO_ROOT
from tools.runner.job_started import main, refusal

REPO = "acme/talos-platform"


def env(
    event: str,
    ref: str = "refs/heads/main",
    role: str = "deploy",
    workflow: str = "deploy.yml",
) -> dict[str, str]:
    return {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REF": ref,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_WORKFLOW_REF": f"{REPO}/.github/workflows/{workflow}@{ref}",
        "TALOS_PLATFORM_RUNNER_ROLE": role,
        "TALOS_PLATFORM_REPOSITORY": REPO,
    }


def pull_request(head: str | None) -> dict[str, Any]:
    return {"pull_request": {"head": {"repo": None if head is None else {"full_name": head}}}}


@pytest.mark.parametrize("event", ["push", "schedule", "workflow_dispatch"])
def test_the_deploy_runner_runs_mains_own_events(event: str) -> None:
    assert refusal("deploy", env(event), {}) is None


@pytest.mark.parametrize(
    ("event", "ref", "expected"),
    [
        ("pull_request", "refs/pull/7/merge", "deploys from main only"),
        ("workflow_dispatch", "refs/heads/evil", "ref 'refs/heads/evil'"),
        ("push", "refs/heads/feature", "ref 'refs/heads/feature'"),
        ("merge_group", "refs/heads/gh-readonly-queue/main/pr-7", "event 'merge_group'"),
        ("pull_request_target", "refs/heads/main", "event 'pull_request_target'"),
    ],
)
def test_the_deploy_runner_refuses_the_rest(event: str, ref: str, expected: str) -> None:
    reason = refusal("deploy", env(event, ref), pull_request(REPO))
    assert reason is not None and expected in reason


def test_the_preview_runner_takes_pull_requests_of_this_repository() -> None:
    assert refusal("preview", env("pull_request", role="preview"), pull_request(REPO)) is None


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("pull_request", pull_request("mallory/talos-platform"), "never from a fork"),
        ("pull_request", pull_request(None), "never from a fork"),  # a deleted fork
        ("pull_request", {}, "never from a fork"),
        ("push", {}, "previews pull requests only"),
        ("workflow_dispatch", {}, "previews pull requests only"),
    ],
)
def test_the_preview_runner_refuses_forks_and_other_events(
    event: str, payload: dict[str, Any], expected: str
) -> None:
    reason = refusal("preview", env(event, role="preview"), payload)
    assert reason is not None and expected in reason


def test_the_deploy_runner_runs_deploy_and_drift_only() -> None:
    assert refusal("deploy", env("workflow_dispatch", workflow="drift.yml"), {}) is None
    reason = refusal("deploy", env("push", workflow="scan.yml"), {})
    assert reason is not None and "scan.yml@refs/heads/main" in reason


def test_a_runner_serves_its_own_repository_only() -> None:
    other = {**env("push"), "GITHUB_REPOSITORY": "acme/other"}
    reason = refusal("deploy", other, {})
    assert reason is not None and "serves 'acme/talos-platform' only" in reason


def test_an_unset_role_refuses_everything() -> None:
    reason = refusal("", env("push"), {})
    assert reason is not None and "TALOS_PLATFORM_RUNNER_ROLE" in reason


def test_the_shell_hook_runs_the_check_and_fails_the_job(tmp_path: Path) -> None:
    """As the runner calls it: `bash -e job-started.sh`, the payload at GITHUB_EVENT_PATH."""
    payload = tmp_path / "event.json"
    hook = REPO_ROOT / "tools" / "runner" / "job-started.sh"

    def run(event: dict[str, Any], **extra: str) -> subprocess.CompletedProcess[str]:
        payload.write_text(json.dumps(event))
        variables = {**env("pull_request", "refs/pull/7/merge", "preview"), **extra}
        return subprocess.run(
            ["bash", "-e", str(hook)],
            env={"PATH": "/usr/bin:/bin", "GITHUB_EVENT_PATH": str(payload), **variables},
            capture_output=True,
            text=True,
            check=False,
        )

    assert run(pull_request(REPO)).returncode == 0
    refused = run(pull_request("mallory/talos-platform"))
    assert refused.returncode == 1 and "never from a fork" in refused.stderr


def test_no_payload_refuses(tmp_path: Path) -> None:
    assert main({**env("push"), "GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}) == 1
