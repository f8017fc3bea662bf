"""`python -m tools.promote --revision`: moving staging's and prod's Git ref, gated, in a
throw-away Git repository with a bare origin (tests/delivery/gitrepo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.promote import main

from .gitrepo import BASE, GitRepo, base_change, isolate_git, promote_in

OVERLAY = "gitops/apps/podinfo/overlays/{env}/kustomization.yaml"
SCALING = "gitops/apps/podinfo/overlays/{env}/scaling.yaml"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    isolate_git(monkeypatch, tmp_path)
    return GitRepo(tmp_path)


promote = promote_in


def prod_change(repo: GitRepo) -> str:
    """A merge to main that changes only prod's own files (a promotion pull request)."""
    repo.edit(OVERLAY.format(env="prod"), "newTag: 6.9.1", "newTag: 6.9.2")
    repo.edit("Pulumi.prod.yaml", "    vlan: 30\n", "    vlan: 31\n")
    return repo.commit("Promote staging to prod")


def test_prod_is_refused_while_main_has_a_base_change_staging_has_not_run(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    staging = repo.remote_branch("env/staging")
    prod = repo.remote_branch("env/prod")
    main_commit = base_change(repo)

    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", "--push") == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.splitlines()
    assert (
        f"error: origin/main ({main_commit[:12]}) has changes staging has not run (staging "
        f"follows env/staging, at {staging[:12]}):" in err
    )
    assert f"error:   {BASE}" in err
    assert any("move staging first" in line for line in err)
    assert err[-1] == "error: env/prod not moved"
    assert repo.remote_branch("env/prod") == prod


def test_prod_moves_when_only_prod_files_differ(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = repo.remote_branch("env/prod")
    # Files only dev reads do not concern prod either.
    repo.edit(OVERLAY.format(env="dev"), "newTag: 6.9.2", "newTag: 6.9.4")
    repo.commit("dev: podinfo 6.9.4")
    main_commit = prod_change(repo)

    # Dry run by default: the push command is printed, the ref stays.
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision") == 0
    out = capsys.readouterr().out.splitlines()
    assert f"prod follows env/prod: {prod[:12]} -> {main_commit[:12]} (origin/main)" in out
    assert f"  {OVERLAY.format(env='prod')}" in out
    assert f"  {OVERLAY.format(env='dev')}" not in out
    assert out[-1] == f"  git push origin {main_commit}:refs/heads/env/prod"
    assert repo.remote_branch("env/prod") == prod

    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", "--push") == 0
    assert f"moved env/prod to {main_commit[:12]}" in capsys.readouterr().out.splitlines()
    assert repo.remote_branch("env/prod") == main_commit
    # Again: nothing to move.
    repo.git("fetch", "-q", "origin")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision") == 0
    assert "nothing to move" in capsys.readouterr().out


def test_dev_to_staging_moves_env_staging_to_main_then_prod_may_follow(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    main_commit = base_change(repo)
    assert promote(repo, "--from", "dev", "--to", "staging", "--revision", "--push") == 0
    out = capsys.readouterr().out
    assert f"git push origin {main_commit}:refs/heads/env/staging" in out
    assert repo.remote_branch("env/staging") == main_commit
    # Staging now runs the base change: prod may take it.
    repo.git("fetch", "-q", "origin")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", "--push") == 0
    assert repo.remote_branch("env/prod") == main_commit


def test_an_explicit_commit_is_gated_the_same_way(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    first = prod_change(repo)
    base_change(repo)
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", first) == 0
    assert f"git push origin {first}:refs/heads/env/prod" in capsys.readouterr().out
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", "HEAD") == 1
    assert f"error:   {BASE}" in capsys.readouterr().err


def test_a_commit_that_is_not_on_main_is_refused(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.git("switch", "-q", "-c", "feature")
    feature = prod_change(repo)
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", feature) == 1
    err = capsys.readouterr().err
    assert f"error: {feature} ({feature[:12]}) is not on origin/main" in err


def test_moving_a_ref_back_is_refused(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    older = repo.head()
    newer = prod_change(repo)
    repo.git("push", "-q", "origin", f"{newer}:refs/heads/env/prod")
    repo.git("fetch", "-q", "origin")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", older) == 1
    err = capsys.readouterr().err
    assert f"error: env/prod ({newer[:12]}) is not an ancestor of {older}" in err
    assert repo.remote_branch("env/prod") == newer


def test_the_tree_must_name_the_ref_being_moved(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.edit("gitops/envs/prod/revision.yaml", "revision: env/prod", "revision: main")
    repo.commit("prod follows main by mistake")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision") == 1
    err = capsys.readouterr().err
    assert "gitops/envs/prod/revision.yaml names 'main', but Pulumi.prod.yaml follows" in err


def test_an_environment_that_follows_main_has_no_ref_to_move(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.edit("Pulumi.prod.yaml", "revision: env/prod", "revision: main")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision") == 1
    err = capsys.readouterr().err
    assert "gitops.revision is 'main', the ref dev follows too: nothing gates prod" in err


def test_a_missing_source_ref_says_which_and_where_it_looked(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.git("push", "-q", "origin", ":refs/heads/env/staging")
    repo.git("fetch", "-q", "--prune", "origin")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision") == 1
    err = capsys.readouterr().err
    assert "no branch 'env/staging' (tried origin/env/staging, then env/staging)" in err


def test_a_missing_target_ref_is_created(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.git("push", "-q", "origin", ":refs/heads/env/prod")
    repo.git("fetch", "-q", "--prune", "origin")
    assert promote(repo, "--from", "staging", "--to", "prod", "--revision", "--push") == 0
    assert "(new branch)" in capsys.readouterr().out
    assert repo.remote_branch("env/prod") == repo.head()


def test_outside_a_git_repository_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["--from", "dev", "--to", "staging", "--revision", "--root", str(plain)]) == 1
    err = capsys.readouterr().err
    assert f"error: {plain}: not a git work tree" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--push"],
        ["--revision", "--allow-downgrade"],
        ["--revision", "--dry-run", "--push"],
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(repo: GitRepo, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        promote(repo, "--from", "staging", "--to", "prod", *argv)
    assert exit_.value.code == 2


def test_the_route_is_checked_first(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert promote(repo, "--from", "dev", "--to", "prod", "--revision") == 2
    assert "skips an environment" in capsys.readouterr().err
