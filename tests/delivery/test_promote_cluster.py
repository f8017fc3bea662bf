"""`python -m tools.promote --from prod --to prod-b --revision`: a cluster with a Git ref of its own
(prod-b, `env/prod-b`) is one more step after its environment. It takes what prod runs, gated like
an environment, in a throw-away Git repository with a bare origin (tests/delivery/gitrepo.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from offline.paths import REPO_ROOT
from tools.promote import main

from .gitrepo import BASE, STACK_FILES, GitRepo, base_change, isolate_git, promote_in

PROD_OVERLAY = "gitops/apps/podinfo/overlays/prod/kustomization.yaml"
PROD_B_ROOT = "gitops/envs/prod/clusters/prod-b"
PROD_B_PLATFORM = "gitops/platform/clusters/prod/prod-b/kube-prometheus-stack.yaml"
PROD_C_PLATFORM = "gitops/platform/clusters/prod/prod-c/values.yaml"


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """The stack files alone: the route is checked before anything else is read."""
    for name in STACK_FILES:
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    isolate_git(monkeypatch, tmp_path)
    return GitRepo(tmp_path)


promote = promote_in


def test_prod_b_takes_what_prod_runs_one_step_after_prod(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    start = repo.remote_branch("env/prod-b")
    release = base_change(repo)
    assert promote(repo, "--from", "dev", "--to", "staging", "--revision", "--push") == 0
    repo.git("fetch", "-q", "origin")
    capsys.readouterr()
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", "--push") == 0
    # prod moved alone; the tool names the next step.
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "next: prod-b follows env/prod-b, not env/prod; once prod runs this well: "
        "python -m tools.promote --from prod --to prod-b --revision"
    )
    assert repo.remote_branch("env/prod") == release
    assert repo.remote_branch("env/prod-b") == start

    repo.git("fetch", "-q", "origin")
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        f"prod-b follows env/prod-b: {start[:12]} -> {release[:12]} (origin/env/prod)",
        "gate passed: origin/env/prod is what prod runs (env/prod)",
    ]
    assert f"  {BASE}" in out
    assert out[-1] == f"  git push origin {release}:refs/heads/env/prod-b"
    assert repo.remote_branch("env/prod-b") == start  # a dry run

    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", "--push") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"moved env/prod-b to {release[:12]}"
    assert repo.remote_branch("env/prod-b") == release
    repo.git("fetch", "-q", "origin")
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision") == 0
    assert "nothing to move" in capsys.readouterr().out


def test_a_commit_with_changes_prod_has_not_run_is_refused(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = repo.remote_branch("env/prod")
    prod_b = repo.remote_branch("env/prod-b")
    merged = base_change(repo)
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", merged, "--push") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: {merged} ({merged[:12]}) has changes prod has not run (prod follows env/prod, "
        f"at {prod[:12]}):",
        f"error:   {BASE}",
        "error: promote prod first, or leave out COMMIT to move env/prod-b to what prod runs "
        "(env/prod)",
        "error: env/prod-b not moved",
    ]
    assert repo.remote_branch("env/prod-b") == prod_b


def test_only_prod_b_s_own_files_may_differ_from_what_prod_runs(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    def merge_change(path: str) -> str:
        file = repo.work / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text((file.read_text() if file.exists() else "") + "# changed\n")
        return repo.commit(f"change {path}")

    # Another cluster's folder: prod-b does not read it.
    merged = merge_change(PROD_C_PLATFORM)
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", merged) == 0
    assert f"  {PROD_C_PLATFORM}" not in capsys.readouterr().out.splitlines()
    # prod-b's own folders: prod never runs them, so they need not wait for prod.
    merge_change(f"{PROD_B_ROOT}/platform.yaml")
    merged = merge_change(PROD_B_PLATFORM)
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", merged) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"  {PROD_B_PLATFORM}" in out and f"  {PROD_B_ROOT}/platform.yaml" in out
    # prod's overlay is prod's own for the step from staging, not prod-b's: prod-b reads it, so
    # prod runs it first. Only that file is listed.
    merged = merge_change(PROD_OVERLAY)
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", merged) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("error:   ")] == [f"error:   {PROD_OVERLAY}"]
    # The step from staging to prod is unchanged by prod's clusters: the clusters' add-on
    # folders count as shared (staging runs them first), prod's own files (its overlay, its
    # clusters' roots) do not.
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", merged) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("error:   ")] == [
        f"error:   {PROD_B_PLATFORM}",
        f"error:   {PROD_C_PLATFORM}",
    ]


def test_a_cluster_that_follows_its_environment_s_ref_has_none_to_move(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.edit("Pulumi.prod-b.yaml", "    revision: env/prod-b\n", "    revision: env/prod\n")
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", "--push") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        "error: Pulumi.prod-b.yaml: talos-platform:gitops.revision is 'env/prod', the ref prod "
        "follows: prod-b moves with env/prod, together with prod (python -m tools.promote --from "
        "staging --to prod --revision moves it), and has no ref of its own to move."
    )
    assert "Traceback" not in captured.err
    # Nor is it named as a next step after prod.
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision") == 0
    assert "next:" not in capsys.readouterr().out


def test_the_tree_prod_runs_must_name_prod_b_s_ref(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """What prod ran before prod-b had a ref of its own: prod-b's root there names env/prod."""
    repo.edit(f"{PROD_B_ROOT}/revision.yaml", "revision: env/prod-b", "revision: env/prod")
    old_tree = repo.commit("prod-b follows env/prod")
    repo.git("push", "-q", "origin", f"{old_tree}:refs/heads/env/prod")
    repo.git("fetch", "-q", "origin")
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision") == 1
    assert (
        f"error: origin/env/prod ({old_tree[:12]}): {PROD_B_ROOT}/revision.yaml names 'env/prod', "
        "but Pulumi.prod-b.yaml follows 'env/prod-b': prod-b's Applications would not follow the "
        "ref being moved"
    ) in capsys.readouterr().err.splitlines()


def test_a_missing_cluster_ref_is_created_at_what_prod_runs(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.git("push", "-q", "origin", ":refs/heads/env/prod-b")
    repo.git("fetch", "-q", "--prune", "origin")
    base_change(repo)  # on main, not in prod: prod-b does not get it
    assert promote(repo, "--from", "prod", "--to", "prod-b", "--revision", "--push") == 0
    assert "(new branch)" in capsys.readouterr().out
    assert repo.remote_branch("env/prod-b") == repo.remote_branch("env/prod")


@pytest.mark.parametrize("revision", [(), ("--revision",)])
@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (
            "staging",
            "prod-b",
            "--from staging --to prod-b: prod-b is a cluster of prod, not of staging: promote to "
            "prod first (--from staging --to prod), then from prod (--from prod --to prod-b "
            "--revision)",
        ),
        (
            "prod-b",
            "prod",
            "--from prod-b: prod-b is a cluster of prod and takes what prod runs: nothing is "
            "promoted from a cluster; promote from prod",
        ),
        (
            "prod",
            "prod-edge",
            "prod-edge is an edge stack (Pulumi.prod-edge.yaml sets talos-platform:edge): it pins "
            "no version and follows no Git ref; nothing is promoted to or from it",
        ),
        ("prod", "../prod", "unknown environment or cluster '../prod' (no Pulumi.../prod.yaml)"),
    ],
)
def test_a_cluster_is_reached_only_from_its_environment(
    stacks: Path,
    capsys: pytest.CaptureFixture[str],
    revision: tuple[str, ...],
    source: str,
    target: str,
    message: str,
) -> None:
    assert main(["--from", source, "--to", target, *revision, "--root", str(stacks)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}"), err
    assert "Traceback" not in err


def test_the_pins_step_to_a_cluster_copies_nothing(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (repo.work / "Pulumi.prod-b.yaml").read_text()
    assert promote(repo, "--from", "prod", "--to", "prod-b") == 0
    out = capsys.readouterr().out
    assert "prod-b is a cluster of prod: its pins are prod's" in out
    assert "nothing to copy" in out
    assert (repo.work / "Pulumi.prod-b.yaml").read_text() == before
    assert repo.git("status", "--porcelain") == ""
