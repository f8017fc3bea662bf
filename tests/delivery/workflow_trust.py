"""Which credentials each GitHub workflow job can get, and whether pull-request code gets one
that reaches beyond its stack's preview (docs/delivery.md, "Threat model").

A pull request can edit the workflow files it runs, so these rules are not the security
boundary: GitHub's environment approvals and Pulumi Cloud's OIDC policies are. They keep this
repository's own workflows from asking for more than those policies are written to give, so a
change that would hand pull-request code a prod-capable credential fails review here first.

`trust_problems(workflows)` reads parsed workflows (`{file name: workflow}`, the `on` key already
read as `on`), expands each job's matrix and the inputs of the local reusable workflows it
calls, and returns one line per problem.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tools.github_settings import DEPLOY_ENVIRONMENTS as DEPLOY_REVIEWS
from tools.github_settings import PREVIEW_ENVIRONMENTS

#: Events that run a pull request's code (`pull_request`; `merge_group`, the merge queue's
#: commit, is not on main yet), or act on its input.
PULL_REQUEST_EVENTS = frozenset(
    {
        "pull_request",
        "merge_group",
        "pull_request_target",
        "pull_request_review",
        "pull_request_review_comment",
        "issue_comment",
        "workflow_run",
    }
)
#: Events that run with the base repository's credentials on input a pull request controls.
REFUSED_EVENTS = {
    "pull_request_target": "runs with the base repository's secrets and a write token",
    "workflow_run": "runs with the base repository's secrets after a pull request's workflow",
    "issue_comment": "lets any commenter trigger a run with the base repository's token",
}
#: PREVIEW_ENVIRONMENTS (tools/github_settings.py, which drift.yml checks against the
#: repository's settings daily): the environments pull-request previews run in, one per stack
#: (`preview-<stack>`: prod's second cluster and its edge stack too), and whether each requires a
#: reviewer's approval of the run. A stack without one there is an unknown environment here.
#: The stack an unreviewed pull request may preview; every other one waits for an approval.
UNREVIEWED_STACK = "dev"
#: The deploy environments: only main reaches them, and their claims get Stack Write.
DEPLOY_ENVIRONMENTS = frozenset(DEPLOY_REVIEWS)
#: The concurrency groups of updates and drift checks (pulumi-up.yml, drift.yml): a job that
#: joins one with `cancel-in-progress` cancels a running `pulumi up` halfway.
STACK_CONCURRENCY = re.compile(r"^pulumi-stack-")
#: The only workflows whose jobs may join those groups, and never with `cancel-in-progress`.
STACK_GROUP_WORKFLOWS = frozenset({"pulumi-up.yml", "drift.yml"})
PREVIEW_RUNNER_GROUP = "talos-platform-preview"
DEPLOY_RUNNER_GROUP = "talos-platform"
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"
TEAM_TOKEN = "urn:pulumi:token-type:access_token:team"
ORGANIZATION_TOKEN = "urn:pulumi:token-type:access_token:organization"

_EXPRESSION = re.compile(r"\$\{\{\s*(matrix|inputs)\.([A-Za-z0-9_-]+)\s*\}\}")
_PULUMI_CLI = re.compile(r"(?m)(^|[;&|(]\s*|\s)pulumi\s+[a-z]")


def events(workflow: dict[str, Any]) -> set[str]:
    on = workflow.get("on") or {}
    if isinstance(on, str):
        return {on}
    return set(on)


def substitute(value: Any, names: dict[str, dict[str, Any]]) -> Any:
    """`${{ matrix.x }}` and `${{ inputs.x }}` replaced by their values, everywhere in `value`."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            known = names.get(match[1], {})
            return str(known[match[2]]) if match[2] in known else match[0]

        return _EXPRESSION.sub(one, value)
    if isinstance(value, dict):
        return {k: substitute(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, names) for v in value]
    return value


def combinations(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Every matrix combination of a job (one empty one without a matrix)."""
    matrix = dict((job.get("strategy") or {}).get("matrix") or {})
    include = matrix.pop("include", [])
    matrix.pop("exclude", None)
    keys = list(matrix)
    combos = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*matrix.values())
    ]
    return (combos or [{}]) + list(include)


def step_inputs(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [
        s.get("with", {})
        for s in job.get("steps", [])
        if s.get("uses", "").startswith(action + "@")
    ]


def runner_group(job: dict[str, Any]) -> str | None:
    runs_on = job.get("runs-on")
    if isinstance(runs_on, dict):
        return runs_on.get("group") or ("self-hosted" if "self-hosted" in str(runs_on) else None)
    if "self-hosted" in str(runs_on):
        return "self-hosted"
    return None


def expanded_jobs(
    workflows: dict[str, dict[str, Any]], name: str, inputs: dict[str, Any] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Each job of workflow `name` per matrix combination, local reusable workflows followed,
    with `matrix.*` and `inputs.*` substituted: `(where, job)`."""
    found: list[tuple[str, dict[str, Any]]] = []
    for job_name, job in workflows[name].get("jobs", {}).items():
        for combo in combinations(job):
            concrete = substitute(job, {"matrix": combo, "inputs": inputs or {}})
            where = f"{name}:{job_name}" + (f" {combo}" if combo else "")
            called = str(concrete.get("uses", ""))
            if called.startswith("./.github/workflows/"):
                callee = called.rsplit("/", 1)[1]
                for inner, inner_job in expanded_jobs(workflows, callee, concrete.get("with")):
                    # A called workflow's job gets no more than its caller grants.
                    inner_job = {**inner_job, "if": concrete.get("if", inner_job.get("if"))}
                    found.append((f"{where} -> {inner}", inner_job))
            else:
                found.append((where, concrete))
    return found


def token_problems(where: str, job: dict[str, Any]) -> list[str]:
    """Every Pulumi Cloud login asks for a team token, never the organization's (an
    organization token administers every stack)."""
    problems: list[str] = []
    environment = job.get("environment")
    for auth in step_inputs(job, "pulumi/auth-actions"):
        if auth.get("requested-token-type", ORGANIZATION_TOKEN) != TEAM_TOKEN:
            problems.append(
                f"{where}: requests a Pulumi organization token (admin of every stack): "
                "request a team token scoped to what the job does"
            )
        scope = str(auth.get("scope", ""))
        if scope.startswith("team:deploy-") and environment != scope.removeprefix("team:deploy-"):
            problems.append(
                f"{where}: the deploy token {scope!r} outside its environment ({environment!r}): "
                "Pulumi Cloud binds Stack Write to the approved environment's claim"
            )
    return problems


def pull_request_job_problems(where: str, job: dict[str, Any]) -> list[str]:
    """A job that runs pull-request code: what it may hold."""
    problems: list[str] = []
    permissions = job.get("permissions") or {}
    environment = job.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    runner = runner_group(job)
    guarded = FORK_GUARD in str(job.get("if", ""))
    if "secrets." in str(job):
        problems.append(f"{where}: reads repository secrets in pull-request code")
    concurrency = job.get("concurrency")
    group = concurrency.get("group") if isinstance(concurrency, dict) else concurrency
    if group is not None and STACK_CONCURRENCY.match(str(group)):
        problems.append(
            f"{where}: joins the stack's update group {group!r}: it could cancel a running "
            "`pulumi up` halfway"
        )
    if environment in DEPLOY_ENVIRONMENTS:
        problems.append(
            f"{where}: runs pull-request code in the deploy environment {environment!r} "
            "(its claim gets Stack Write)"
        )
    elif environment is not None and environment not in PREVIEW_ENVIRONMENTS:
        problems.append(f"{where}: unknown environment {environment!r} for pull-request code")
    if runner is not None:
        if runner != PREVIEW_RUNNER_GROUP:
            problems.append(
                f"{where}: pull-request code on runner group {runner!r} "
                f"(only {PREVIEW_RUNNER_GROUP!r}; {DEPLOY_RUNNER_GROUP!r} is for main)"
            )
        if not guarded:
            problems.append(f"{where}: a self-hosted runner without the fork guard `{FORK_GUARD}`")
    if _PULUMI_CLI.search("\n".join(s.get("run", "") for s in job.get("steps", []))):
        problems.append(f"{where}: runs the Pulumi CLI in a script (only pulumi/actions preview)")
    for pulumi in step_inputs(job, "pulumi/actions"):
        if pulumi.get("command") not in (None, "preview"):
            problems.append(f"{where}: pulumi/actions command {pulumi.get('command')!r} in a PR")
    if permissions.get("id-token") != "write":
        return problems
    # From here: the job can log in to Pulumi Cloud.
    if not guarded:
        problems.append(f"{where}: an OIDC token without the fork guard `{FORK_GUARD}`")
    stacks = {
        str(p.get("stack-name", "")).rsplit("/", 1)[-1] for p in step_inputs(job, "pulumi/actions")
    }
    if len(stacks) != 1:
        problems.append(f"{where}: previews {sorted(stacks)}: one stack per job")
        return problems
    [stack] = stacks
    expected = f"preview-{stack}"
    if environment != expected:
        problems.append(
            f"{where}: previews {stack!r} in environment {environment!r}, not {expected!r}: "
            "Pulumi Cloud binds the token to that claim"
        )
    elif stack != UNREVIEWED_STACK and not PREVIEW_ENVIRONMENTS.get(expected):
        problems.append(f"{where}: previews {stack!r} without a reviewer's approval")
    for auth in step_inputs(job, "pulumi/auth-actions"):
        if auth.get("scope") != f"team:{expected}":
            problems.append(
                f"{where}: Pulumi token scope {auth.get('scope')!r}, not 'team:{expected}' "
                f"(Stack Read on {stack!r} only)"
            )
    return problems


def _group(concurrency: Any) -> tuple[str | None, bool]:
    if isinstance(concurrency, dict):
        return concurrency.get("group"), bool(concurrency.get("cancel-in-progress"))
    return (None if concurrency is None else str(concurrency)), False


def concurrency_problems(name: str, workflow: dict[str, Any]) -> list[str]:
    """A stack's update group (`pulumi-stack-*`) only in pulumi-up.yml and drift.yml, and never
    cancelling: a job elsewhere (on any event) could cancel a running `pulumi up` halfway."""
    found = []
    places = [("(workflow)", workflow.get("concurrency"))] + [
        (job_name, job.get("concurrency")) for job_name, job in (workflow.get("jobs") or {}).items()
    ]
    for where, concurrency in places:
        group, cancels = _group(concurrency)
        if group is None or not STACK_CONCURRENCY.match(str(group)):
            continue
        if name not in STACK_GROUP_WORKFLOWS:
            found.append(f"{name}:{where}: joins a stack's update group {group!r}")
        elif cancels:
            found.append(f"{name}:{where}: cancels in the stack's update group {group!r}")
    return found


def trust_problems(workflows: dict[str, dict[str, Any]]) -> list[str]:
    """Every problem, across the workflows (an empty list when all is well)."""
    problems: list[str] = []
    for name, workflow in sorted(workflows.items()):
        problems += concurrency_problems(name, workflow)
        triggers = events(workflow)
        for event in sorted(triggers & set(REFUSED_EVENTS)):
            problems.append(f"{name}: on {event}: {REFUSED_EVENTS[event]}")
        if triggers & PULL_REQUEST_EVENTS:
            # A workflow-level group applies to every job.
            problems += pull_request_job_problems(
                f"{name} (workflow)", {"concurrency": workflow.get("concurrency")}
            )
        if "workflow_call" in triggers:
            continue  # checked through its callers, with their inputs
        for where, job in expanded_jobs(workflows, name):
            problems += token_problems(where, job)
            if triggers & PULL_REQUEST_EVENTS:
                problems += pull_request_job_problems(where, job)
    return problems
