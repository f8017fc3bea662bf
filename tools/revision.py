"""Move an environment's Git ref: the gate between a merge to main and staging or prod.

    python -m tools.promote --from staging --to prod --revision [COMMIT] [--push] [--remote NAME]

Each environment's Applications follow the Git ref its stack names (`gitops.revision` of
`Pulumi.<env>.yaml`, the same as `gitops/envs/<env>/revision.yaml`): dev follows `main`,
staging `env/staging`, prod `env/prod`. A merge to main therefore changes staging or prod only
when their ref moves, and this is what moves it, after checking the gate:

- the candidate (COMMIT; default: the tip of the ref dev follows, `origin/main` else `main`) is
  on that ref: only merged commits are promoted;
- what the target environment reads from the candidate (gitops/, apart from other environments'
  own folders) equals what the source environment runs (its ref), apart from the target's own
  files (`gitops/envs/<target>/**`, `gitops/apps/*/overlays/<target>/**`): otherwise the source
  environment has not run those changes, and they are listed;
- the move is a fast-forward of the target ref (or creates it), and the candidate's tree names
  the target ref in `gitops/envs/<target>/revision.yaml`.

Files outside `gitops/` (stack files, the Pulumi program) are not delivered through the ref: the
deploy workflow applies them from main, behind its own approvals. They are not gated here.

Without `--push` nothing changes: the `git push` command that moves the ref is printed. Refs are
read from `<remote>/<ref>`, else the local branch `<ref>`: fetch first.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .promote import (
    ENVIRONMENTS,
    EXIT_INVALID,
    NAMESPACE,
    PromoteError,
    check_route,
    load,
    stack_config,
)

GITOPS = "gitops/"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass
class RevisionMove:
    """What moving `target`'s ref to `candidate` means, and why it is refused if it is."""

    source: str
    target: str
    remote: str
    source_ref: str
    target_ref: str
    candidate: str
    candidate_label: str
    source_commit: str
    target_commit: str | None
    changes: list[str] = field(default_factory=list)
    """Files under gitops/ the target reads that differ between its ref and the candidate."""
    refusals: list[str] = field(default_factory=list)

    @property
    def push_command(self) -> list[str]:
        return ["git", "push", self.remote, f"{self.candidate}:refs/heads/{self.target_ref}"]


# --- Git ---------------------------------------------------------------------------------------


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    except FileNotFoundError as exc:
        raise PromoteError("git not found on PATH: --revision needs git") from exc


def git_output(root: Path, *args: str) -> str:
    result = git(root, *args)
    if result.returncode != 0:
        detail = result.stderr.strip() or f"exit status {result.returncode}"
        raise PromoteError(f"git {' '.join(args)}: {detail}")
    return result.stdout


def require_work_tree(root: Path) -> None:
    result = git(root, "rev-parse", "--is-inside-work-tree")
    if result.returncode != 0 or result.stdout.strip() != "true":
        detail = result.stderr.strip().splitlines()
        reason = f" ({detail[0]})" if detail else ""
        raise PromoteError(f"{root}: not a git work tree{reason}: --revision needs the repository")


def commit_of(root: Path, name: str) -> str | None:
    """The commit `name` (a ref, a SHA, `HEAD~1`) points at, or None."""
    result = git(root, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    return result.stdout.strip() if result.returncode == 0 else None


def branch_commit(root: Path, remote: str, ref: str) -> tuple[str, str] | None:
    """(name, commit) of `<remote>/<ref>`, else of the local branch `<ref>`; None if neither."""
    candidates = ((f"{remote}/{ref}", f"refs/remotes/{remote}/{ref}"), (ref, f"refs/heads/{ref}"))
    for name, full in candidates:
        commit = commit_of(root, full)
        if commit:
            return name, commit
    return None


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    result = git(root, "merge-base", "--is-ancestor", older, newer)
    if result.returncode not in (0, 1):
        raise PromoteError(f"git merge-base {older} {newer}: {result.stderr.strip()}")
    return result.returncode == 0


def changed_files(root: Path, old: str, new: str) -> list[str]:
    out = git_output(root, "diff", "--name-only", "--no-renames", "-z", old, new)
    return sorted(name for name in out.split("\0") if name)


# --- Which files are whose ---------------------------------------------------------------------


def owner(path: str) -> str | None:
    """The environment a file under gitops/ belongs to alone, or None if they share it."""
    for pattern in (r"gitops/envs/([^/]+)/", r"gitops/apps/[^/]+/overlays/([^/]+)/"):
        match = re.match(pattern, path)
        if match and match.group(1) in ENVIRONMENTS:
            return match.group(1)
    return None


def read_by(path: str, env: str) -> bool:
    """Whether `env`'s Applications read `path`: gitops/, apart from other environments' own."""
    return path.startswith(GITOPS) and owner(path) in (None, env)


# --- Planning ----------------------------------------------------------------------------------


def stack_revision(root: Path, env: str) -> str:
    """`gitops.revision` of `Pulumi.<env>.yaml`: the ref the environment follows."""
    document = load(root / f"Pulumi.{env}.yaml", root)
    gitops = stack_config(document, root).get(f"{NAMESPACE}:gitops")
    revision = gitops.get("revision") if isinstance(gitops, dict) else None
    if not isinstance(revision, str) or not revision.strip():
        raise PromoteError(f"Pulumi.{env}.yaml: {NAMESPACE}:gitops.revision is not set")
    return str(revision)


def _tree_revision(root: Path, commit: str, env: str) -> Any:
    path = f"gitops/envs/{env}/revision.yaml"
    result = git(root, "show", f"{commit}:{path}")
    if result.returncode != 0:
        return None
    try:
        data = (yaml.safe_load(result.stdout) or {}).get("data") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    return data.get("revision") if isinstance(data, dict) else None


def _movable(root: Path, env: str, ref: str, others: dict[str, str]) -> None:
    """Refuse a ref this tool cannot or should not move (a commit, another environment's ref)."""
    where = f"Pulumi.{env}.yaml: {NAMESPACE}:gitops.revision"
    if _SHA.fullmatch(ref) or git(root, "check-ref-format", "--branch", ref).returncode != 0:
        raise PromoteError(f"{where} is {ref!r}, not a branch: there is no ref to move")
    for other, other_ref in others.items():
        if other_ref == ref:
            raise PromoteError(
                f"{where} is {ref!r}, the ref {other} follows too: nothing gates {env}; give it "
                f"its own branch (env/{env}) in the stack file and in "
                f"gitops/envs/{env}/revision.yaml"
            )


def plan_revision(
    source: str,
    target: str,
    root: Path,
    candidate: str | None = None,
    remote: str = "origin",
) -> RevisionMove:
    """Check the gate for moving `target`'s ref to `candidate`; PromoteError if it cannot be
    checked (no repository, a missing ref), `refusals` if it fails."""
    check_route(source, target)
    require_work_tree(root)
    refs = {env: stack_revision(root, env) for env in ENVIRONMENTS}
    trunk_env = ENVIRONMENTS[0]
    trunk_ref, source_ref, target_ref = refs[trunk_env], refs[source], refs[target]
    _movable(root, target, target_ref, {e: r for e, r in refs.items() if e != target})

    trunk = branch_commit(root, remote, trunk_ref)
    if trunk is None:
        raise PromoteError(
            f"no branch {trunk_ref!r} (tried {remote}/{trunk_ref}, then {trunk_ref}): "
            f"{trunk_env} follows it (Pulumi.{trunk_env}.yaml); fetch it first"
        )
    if candidate:
        label, commit = candidate, None if candidate.startswith("-") else commit_of(root, candidate)
        if commit is None:
            raise PromoteError(f"{candidate!r} is not a commit of this repository")
    else:
        label, commit = trunk
    found = branch_commit(root, remote, source_ref)
    if found is None:
        raise PromoteError(
            f"no branch {source_ref!r} (tried {remote}/{source_ref}, then {source_ref}): "
            f"{source} follows it (Pulumi.{source}.yaml); fetch it, or promote {source} first"
        )
    current = branch_commit(root, remote, target_ref)
    move = RevisionMove(
        source=source,
        target=target,
        remote=remote,
        source_ref=source_ref,
        target_ref=target_ref,
        candidate=commit,
        candidate_label=label,
        source_commit=found[1],
        target_commit=current[1] if current else None,
    )
    short = commit[:12]
    if not is_ancestor(root, commit, trunk[1]):
        move.refusals.append(
            f"{label} ({short}) is not on {trunk[0]}: only merged commits are promoted"
        )
    untested = [
        name
        for name in changed_files(root, move.source_commit, commit)
        if read_by(name, target) and owner(name) != target
    ]
    if untested:
        move.refusals.append(
            f"{label} ({short}) has changes {source} has not run ({source} follows "
            f"{source_ref}, at {move.source_commit[:12]}):"
        )
        move.refusals += [f"  {name}" for name in untested]
        if source != trunk_env:
            move.refusals.append(
                f"move {source} first (python -m tools.promote --from "
                f"{ENVIRONMENTS[ENVIRONMENTS.index(source) - 1]} --to {source} --revision), "
                f"or promote an older commit of {trunk_ref} (--revision COMMIT)"
            )
    named = _tree_revision(root, commit, target)
    if named is None:
        move.refusals.append(
            f"{label} ({short}) has no readable gitops/envs/{target}/revision.yaml: {target}'s "
            f"Applications would not follow {target_ref!r}"
        )
    elif named != target_ref:
        move.refusals.append(
            f"{label} ({short}): gitops/envs/{target}/revision.yaml names {named!r}, but "
            f"Pulumi.{target}.yaml follows {target_ref!r}: {target}'s Applications would not "
            "follow the ref being moved"
        )
    if move.target_commit is not None:
        if not is_ancestor(root, move.target_commit, commit):
            move.refusals.append(
                f"{target_ref} ({move.target_commit[:12]}) is not an ancestor of {label} "
                f"({short}): moving it back is a rollback; revert on {trunk_ref} and promote "
                "the revert instead"
            )
        else:
            move.changes = [
                name
                for name in changed_files(root, move.target_commit, commit)
                if read_by(name, target)
            ]
    return move


# --- Command line (called by tools.promote) ----------------------------------------------------


def run(
    source: str, target: str, root: Path, candidate: str | None, remote: str, push: bool
) -> int:
    """Print the move and, with `push`, make it; PromoteError when refused or impossible."""
    move = plan_revision(source, target, root, candidate, remote)
    if move.target_commit == move.candidate:
        print(f"{move.target_ref} is already at {move.candidate[:12]}: nothing to move")
        return 0
    if move.refusals:
        raise PromoteError(
            "\n".join([*move.refusals, f"{move.target_ref} not moved"]), EXIT_INVALID
        )
    before = move.target_commit[:12] if move.target_commit else "(new branch)"
    print(
        f"{target} follows {move.target_ref}: {before} -> {move.candidate[:12]} "
        f"({move.candidate_label})"
    )
    print(
        f"gate passed: in what {target} reads, {move.candidate_label} differs from what {source} "
        f"runs ({move.source_ref}, {move.source_commit[:12]}) only in {target}'s own files"
    )
    if move.target_commit is not None:
        print(f"what {target} reads that changes ({len(move.changes)} file(s)):")
        for name in move.changes:
            print(f"  {name}")
    command = " ".join(move.push_command)
    if not push:
        print(f"dry run, nothing pushed; to move {move.target_ref}, run (or add --push):")
        print(f"  {command}")
        return 0
    print(f"running: {command}")
    git_output(root, *move.push_command[1:])
    print(f"moved {move.target_ref} to {move.candidate[:12]}")
    return 0
