"""Move an environment's Git ref: the gate between a merge to main and staging or prod, and
between an environment and a cluster of it that follows a ref of its own.

    python -m tools.promote --from staging --to prod --revision [COMMIT] [--push] [--remote NAME]
    python -m tools.promote --from prod --to prod-b --revision [COMMIT] [--push] [--remote NAME]

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

A cluster stack of an environment other than its own (`Pulumi.prod-b.yaml`, environment prod,
root `gitops/envs/prod/clusters/prod-b`) either follows its environment's ref, and moves with it,
or a ref of its own (`env/prod-b`): then it is one more step, after its environment, and the same
gate applies with these differences (`--from <its environment> --to <cluster>`):

- the candidate defaults to the commit the environment's ref is at: what the environment runs;
- the cluster reads what its environment reads, less the other clusters' own folders; its own
  files, which the environment cannot have run, are its folders `gitops/envs/<env>/clusters/
  <cluster>/`, `gitops/platform/clusters/<env>/<cluster>/` and `gitops/platform/monitoring/
  clusters/<env>/<cluster>/`;
- the tree must name the ref in the cluster's root, `<gitops.path>/revision.yaml`.

A cluster that follows its environment's ref is refused: there is nothing to move on its own.

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
    environment_stacks,
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
    next_steps: dict[str, str] = field(default_factory=dict)
    """The clusters of the target environment with a ref of their own (stack -> ref): each is
    promoted after it (`--from <target> --to <cluster> --revision`)."""

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


_CLUSTER_FOLDERS = (
    r"gitops/envs/([^/]+)/clusters/([^/]+)/",
    r"gitops/platform/clusters/([^/]+)/([^/]+)/",
    r"gitops/platform/monitoring/clusters/([^/]+)/([^/]+)/",
)


def cluster_folder(path: str) -> tuple[str, str] | None:
    """(environment, cluster) of a file in a cluster's own folder: its root overlay, its add-ons'
    overlay, its monitoring folder (docs/multi-cluster.md, "GitOps across clusters"); else None."""
    for pattern in _CLUSTER_FOLDERS:
        match = re.match(pattern, path)
        if match:
            return match.group(1), match.group(2)
    return None


@dataclass(frozen=True)
class Step:
    """The ref being moved, and which files the gate holds to what the source runs."""

    target: str
    target_ref: str
    revision_path: str
    """The file of the candidate's tree that must name `target_ref` (the root's revision.yaml)."""
    environment: str
    """`target`, or the environment of the cluster `target`."""

    @property
    def is_cluster(self) -> bool:
        return self.target != self.environment

    def reads(self, path: str) -> bool:
        """Whether the target's Applications read `path`: gitops/ apart from other environments'
        own files; of a cluster, also apart from the folders of its environment's other clusters.
        (An environment's step counts every cluster's folders under gitops/platform/ as shared,
        as it always has: the gate from staging to prod is not changed by prod's clusters.)"""
        if not read_by(path, self.environment):
            return False
        if not self.is_cluster:
            return True
        return cluster_folder(path) in (None, (self.environment, self.target))

    def owns(self, path: str) -> bool:
        """A file the target reads alone, which the source cannot have run."""
        if self.is_cluster:
            return cluster_folder(path) == (self.environment, self.target)
        return owner(path) == self.target


# --- Planning ----------------------------------------------------------------------------------


def _gitops_setting(root: Path, stack: str, key: str) -> str:
    document = load(root / f"Pulumi.{stack}.yaml", root)
    gitops = stack_config(document, root).get(f"{NAMESPACE}:gitops")
    value = gitops.get(key) if isinstance(gitops, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise PromoteError(f"Pulumi.{stack}.yaml: {NAMESPACE}:gitops.{key} is not set")
    return str(value)


def stack_revision(root: Path, stack: str) -> str:
    """`gitops.revision` of `Pulumi.<stack>.yaml`: the ref the stack's root Application follows."""
    return _gitops_setting(root, stack, "revision")


def _tree_revision(root: Path, commit: str, path: str) -> Any:
    result = git(root, "show", f"{commit}:{path}")
    if result.returncode != 0:
        return None
    try:
        data = (yaml.safe_load(result.stdout) or {}).get("data") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    return data.get("revision") if isinstance(data, dict) else None


def _movable(root: Path, step: Step, others: dict[str, str]) -> None:
    """Refuse a ref this tool cannot or should not move (a commit, another stack's ref)."""
    ref, name = step.target_ref, step.target
    where = f"Pulumi.{name}.yaml: {NAMESPACE}:gitops.revision"
    if _SHA.fullmatch(ref) or git(root, "check-ref-format", "--branch", ref).returncode != 0:
        raise PromoteError(f"{where} is {ref!r}, not a branch: there is no ref to move")
    for other, other_ref in others.items():
        if other_ref == ref:
            raise PromoteError(
                f"{where} is {ref!r}, the ref {other} follows too: nothing gates {name}; give it "
                f"its own branch (env/{name}) in the stack file and in {step.revision_path}"
            )


def _environment_before(env: str) -> str | None:
    index = ENVIRONMENTS.index(env)
    return ENVIRONMENTS[index - 1] if index else None


def _how_env_moves(env: str, ref: str) -> str:
    before = _environment_before(env)
    if before is None:
        return f"{ref} moves with every merge"
    return f"python -m tools.promote --from {before} --to {env} --revision moves it"


def _cluster_step(root: Path, env: str, cluster: str, refs: dict[str, str]) -> Step:
    """The step of a cluster of `env` with a Git ref of its own; PromoteError if it has none."""
    cluster_ref = stack_revision(root, cluster)
    revision_path = f"{_gitops_setting(root, cluster, 'path').strip('/')}/revision.yaml"
    step = Step(cluster, cluster_ref, revision_path, env)
    if cluster_ref == refs[env]:
        raise PromoteError(
            f"Pulumi.{cluster}.yaml: {NAMESPACE}:gitops.revision is {cluster_ref!r}, the ref "
            f"{env} follows: {cluster} moves with {cluster_ref}, together with {env} "
            f"({_how_env_moves(env, cluster_ref)}), and has no ref of its own to move. To move it "
            f"after {env}, give it its own branch (env/{cluster}) in Pulumi.{cluster}.yaml, in "
            f"{revision_path} and in the targetRevision of monitoring-config and etcd-backup in "
            f'gitops/platform/clusters/{env}/{cluster} (docs/multi-cluster.md, "GitOps across '
            'clusters")'
        )
    others = dict(refs)
    for other_env in ENVIRONMENTS:
        for document in environment_stacks(root, other_env)[1:]:
            other = document.path.name.removeprefix("Pulumi.").removesuffix(".yaml")
            if other != cluster:
                others[other] = stack_revision(root, other)
    _movable(root, step, others)
    return step


def own_ref_clusters(root: Path, env: str) -> dict[str, str]:
    """The cluster stacks of `env` (other than its own) that follow a ref of their own: stack ->
    ref. They are promoted after `env`, each with `--from <env> --to <cluster> --revision`."""
    env_ref = stack_revision(root, env)
    out = {}
    for document in environment_stacks(root, env)[1:]:
        cluster = document.path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        ref = stack_revision(root, cluster)
        if ref != env_ref:
            out[cluster] = ref
    return out


def _resolve(root: Path, candidate: str | None, default: tuple[str, str]) -> tuple[str, str]:
    """(label, commit) of the candidate: COMMIT as given, else `default`."""
    if not candidate:
        return default
    commit = None if candidate.startswith("-") else commit_of(root, candidate)
    if commit is None:
        raise PromoteError(f"{candidate!r} is not a commit of this repository")
    return candidate, commit


def plan_revision(
    source: str,
    target: str,
    root: Path,
    candidate: str | None = None,
    remote: str = "origin",
) -> RevisionMove:
    """Check the gate for moving `target`'s ref to `candidate`; PromoteError if it cannot be
    checked (no repository, a missing ref, a cluster without a ref of its own), `refusals` if it
    fails. `target` is the next environment, or a cluster of `source` with a ref of its own."""
    cluster_of = check_route(source, target, root)
    require_work_tree(root)
    refs = {env: stack_revision(root, env) for env in ENVIRONMENTS}
    trunk_env = ENVIRONMENTS[0]
    trunk_ref, source_ref = refs[trunk_env], refs[source]
    if cluster_of is None:
        step = Step(target, refs[target], f"gitops/envs/{target}/revision.yaml", target)
        _movable(root, step, {e: r for e, r in refs.items() if e != target})
    else:
        step = _cluster_step(root, cluster_of, target, refs)
    target_ref = step.target_ref

    trunk = branch_commit(root, remote, trunk_ref)
    if trunk is None:
        raise PromoteError(
            f"no branch {trunk_ref!r} (tried {remote}/{trunk_ref}, then {trunk_ref}): "
            f"{trunk_env} follows it (Pulumi.{trunk_env}.yaml); fetch it first"
        )
    found = branch_commit(root, remote, source_ref)
    if found is None:
        raise PromoteError(
            f"no branch {source_ref!r} (tried {remote}/{source_ref}, then {source_ref}): "
            f"{source} follows it (Pulumi.{source}.yaml); fetch it, or promote {source} first"
        )
    # An environment takes the tip of main by default; a cluster what its environment runs.
    label, commit = _resolve(root, candidate, found if step.is_cluster else trunk)
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
    move.next_steps = {} if step.is_cluster else own_ref_clusters(root, target)
    short = commit[:12]
    if not is_ancestor(root, commit, trunk[1]):
        move.refusals.append(
            f"{label} ({short}) is not on {trunk[0]}: only merged commits are promoted"
        )
    untested = [
        name
        for name in changed_files(root, move.source_commit, commit)
        if step.reads(name) and not step.owns(name)
    ]
    if untested:
        move.refusals.append(
            f"{label} ({short}) has changes {source} has not run ({source} follows "
            f"{source_ref}, at {move.source_commit[:12]}):"
        )
        move.refusals += [f"  {name}" for name in untested]
        before = _environment_before(source)
        if step.is_cluster:
            move.refusals.append(
                f"promote {source} first, or leave out COMMIT to move {target_ref} to what "
                f"{source} runs ({source_ref})"
            )
        elif before is not None:
            move.refusals.append(
                f"move {source} first (python -m tools.promote --from {before} --to {source} "
                f"--revision), or promote an older commit of {trunk_ref} (--revision COMMIT)"
            )
    named = _tree_revision(root, commit, step.revision_path)
    if named is None:
        move.refusals.append(
            f"{label} ({short}) has no readable {step.revision_path}: {target}'s Applications "
            f"would not follow {target_ref!r}"
        )
    elif named != target_ref:
        move.refusals.append(
            f"{label} ({short}): {step.revision_path} names {named!r}, but "
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
                name for name in changed_files(root, move.target_commit, commit) if step.reads(name)
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
        _print_next_steps(move)
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
    if move.candidate == move.source_commit:
        print(f"gate passed: {move.candidate_label} is what {source} runs ({move.source_ref})")
    else:
        print(
            f"gate passed: in what {target} reads, {move.candidate_label} differs from what "
            f"{source} runs ({move.source_ref}, {move.source_commit[:12]}) only in {target}'s "
            "own files"
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
    _print_next_steps(move)
    return 0


def _print_next_steps(move: RevisionMove) -> None:
    for cluster, ref in move.next_steps.items():
        print(
            f"next: {cluster} follows {ref}, not {move.target_ref}; once {move.target} runs "
            f"this well: python -m tools.promote --from {move.target} --to {cluster} --revision"
        )
