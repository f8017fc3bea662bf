"""A throw-away Git repository holding this project's stack files and GitOps tree, with a bare
`origin` beside it that has `main`, `env/staging`, `env/prod` and prod-b's `env/prod-b`: what Argo
CD and `python -m tools.promote --revision` see."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from offline.paths import REPO_ROOT

STACK_FILES = (
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.staging.yaml",
    "Pulumi.prod.yaml",
    "Pulumi.prod-b.yaml",
    "Pulumi.prod-edge.yaml",
)
ENV_BRANCHES = ("env/staging", "env/prod", "env/prod-b")


def isolate_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user or system Git configuration; a fixed identity for commits."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


class GitRepo:
    def __init__(self, tmp_path: Path) -> None:
        self.origin = tmp_path / "origin.git"
        self.work = tmp_path / "work"
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--bare", "-b", "main", str(self.origin), cwd=tmp_path)
        self.work.mkdir()
        self.git("init", "-b", "main")
        for name in STACK_FILES:
            shutil.copy(REPO_ROOT / name, self.work / name)
        shutil.copytree(REPO_ROOT / "gitops", self.work / "gitops")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "initial")
        self.git("remote", "add", "origin", str(self.origin))
        self.git("push", "-q", "origin", "main")
        for branch in ENV_BRANCHES:
            self.git("push", "-q", "origin", f"main:refs/heads/{branch}")
        self.git("fetch", "-q", "origin")

    def git(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run(
            ["git", *args], cwd=cwd or self.work, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.work / path
        text = file.read_text()
        assert text.count(old) == 1, f"{path}: {old!r}"
        file.write_text(text.replace(old, new))

    def commit(self, message: str, push: bool = True) -> str:
        """Commit every change (a merge to main when on main) and push it; returns the commit."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        if push:
            branch = self.git("rev-parse", "--abbrev-ref", "HEAD")
            self.git("push", "-q", "origin", branch)
            self.git("fetch", "-q", "origin")
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def remote_branch(self, branch: str) -> str:
        """The commit `branch` has on origin, as Argo CD resolves it (`git ls-remote`)."""
        line = self.git("ls-remote", str(self.origin), f"refs/heads/{branch}")
        assert line, f"origin has no branch {branch}"
        return line.split()[0]

    def checkout(self, commit: str, into: Path) -> Path:
        """The files of `commit`, extracted into `into` (as Argo CD's repo-server does)."""
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=self.work,
            capture_output=True,
            check=True,
        ).stdout
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")
        return into


BASE = "gitops/apps/podinfo/base/frontend.yaml"
"""The podinfo base every environment and cluster runs: a change there is shared."""


def promote_in(repo: GitRepo, *argv: str) -> int:
    """`python -m tools.promote ARGV` against the repository `repo`."""
    from tools.promote import main

    return main([*argv, "--root", str(repo.work)])


def base_change(repo: GitRepo) -> str:
    """A merge to main that changes what every environment (and cluster) runs."""
    repo.edit(BASE, "imagePullPolicy: IfNotPresent", "imagePullPolicy: Always")
    return repo.commit("base: always pull")
