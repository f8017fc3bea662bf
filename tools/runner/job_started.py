#!/usr/bin/env python3
"""The self-hosted runners' job-started hook: refuse a job this runner must not run, before any
of its steps (docs/delivery.md, "Runners").

A workflow file is no boundary: a pull request runs the workflows of its own merge commit, so it
can drop a fork guard or name another runner group. This script runs on the runner host itself,
outside the job's reach. Install it on every self-hosted runner of this repository, with its
role, in the runner's `.env` file (actions/runner: `ACTIONS_RUNNER_HOOK_JOB_STARTED`; a
non-zero exit fails the job before its first step):

    ACTIONS_RUNNER_HOOK_JOB_STARTED=/opt/talos-platform/job-started.sh   # runs this file
    TALOS_PLATFORM_RUNNER_ROLE=preview        # or: deploy
    TALOS_PLATFORM_REPOSITORY=<owner>/<repo>  # the one repository these runners serve

- `deploy` (the `talos-platform` group): only main, and only its own events and workflows: a
  push to main or a dispatch on main (deploy.yml and the pulumi-up.yml it calls: a called
  workflow's job sees its caller's `GITHUB_WORKFLOW_REF`; a dispatch may deploy one stack
  alone), the daily schedule and a dispatch (drift.yml).
- `preview` (the `talos-platform-preview` group): only `pull_request` events whose head is a
  branch of this repository, never a fork.

It reads what GitHub gives every job (the hook's environment is the `github` context, which a
job's `env:` cannot override): `GITHUB_EVENT_NAME`, `GITHUB_REF`, `GITHUB_REPOSITORY`,
`GITHUB_WORKFLOW_REF` and the event payload at `GITHUB_EVENT_PATH`. Standard library only: it is
copied to the host.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

MAIN = "refs/heads/main"
DEPLOY_EVENTS = frozenset({"push", "schedule", "workflow_dispatch"})
#: The workflows a deploy runner runs, as `<owner>/<repo>/<path>@<ref>` names them.
DEPLOY_WORKFLOWS = (".github/workflows/deploy.yml", ".github/workflows/drift.yml")
PREVIEW_EVENTS = frozenset({"pull_request"})
ROLES = ("deploy", "preview")


def refusal(role: str, env: Mapping[str, str], event: Mapping[str, Any]) -> str | None:
    """Why this job must not run here, or None."""
    name = env.get("GITHUB_EVENT_NAME", "")
    repository = env.get("GITHUB_REPOSITORY", "")
    if role in ROLES and repository != env.get("TALOS_PLATFORM_REPOSITORY"):
        return (
            f"repository {repository!r}: this runner serves "
            f"{env.get('TALOS_PLATFORM_REPOSITORY')!r} only (TALOS_PLATFORM_REPOSITORY)"
        )
    if role == "deploy":
        if name not in DEPLOY_EVENTS:
            return f"event {name!r}: this runner deploys from main only ({sorted(DEPLOY_EVENTS)})"
        if env.get("GITHUB_REF") != MAIN:
            return f"ref {env.get('GITHUB_REF')!r}: this runner deploys from {MAIN} only"
        allowed = [f"{repository}/{path}@{MAIN}" for path in DEPLOY_WORKFLOWS]
        if env.get("GITHUB_WORKFLOW_REF") not in allowed:
            return f"workflow {env.get('GITHUB_WORKFLOW_REF')!r}: this runner runs {allowed} only"
        return None
    if role == "preview":
        if name not in PREVIEW_EVENTS:
            return f"event {name!r}: this runner previews pull requests only"
        head = ((event.get("pull_request") or {}).get("head") or {}).get("repo") or {}
        if head.get("full_name") != repository:
            return (
                f"pull request from {head.get('full_name')!r}: this runner takes pull "
                f"requests from {repository!r} only, never from a fork"
            )
        return None
    return f"TALOS_PLATFORM_RUNNER_ROLE is {role!r}, expected one of {', '.join(ROLES)}"


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    role = env.get("TALOS_PLATFORM_RUNNER_ROLE", "")
    try:
        with open(env.get("GITHUB_EVENT_PATH", ""), encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"job refused: no readable event payload ({exc})", file=sys.stderr)
        return 1
    reason = refusal(role, env, event if isinstance(event, dict) else {})
    if reason is not None:
        print(f"job refused by the {role or 'unset'} runner's hook: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
