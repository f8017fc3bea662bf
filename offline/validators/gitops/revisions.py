"""Revisions: the stack and the tree follow the same Git ref."""

from __future__ import annotations

import json
from dataclasses import dataclass

from config.errors import NAMESPACE
from config.repository import revision_file

from ...stackfile import StackFileError, read_stack_config
from . import tree
from .rendering import _sources
from .schemas import describe
from .tree import GITOPS_REPO_URL, STACK_REVISION_KEY, Problem, RenderedObject, _relative


@dataclass(frozen=True)
class StackRevision:
    """The Git ref a stack's root Application follows (its `gitops.revision`) and where it is set
    (`Pulumi.prod.yaml`)."""

    value: str
    file: str


def stack_revision(env: str) -> StackRevision | Problem:
    """`gitops.revision` of the root's stack file in `STACKS_DIR` (`Pulumi.<env>.yaml`, of a
    cluster's overlay `Pulumi.<cluster>.yaml`), or the Problem that stops reading it (no such
    file, no such key), read the way the offline plan reads a stack."""
    stack = tree.stack_of(env)
    path = tree.STACKS_DIR / f"Pulumi.{stack}.yaml"
    name = _relative(path)
    object_name = f"stack {stack}"
    try:
        values = read_stack_config(stack, path, tree.STACKS_DIR / "Pulumi.yaml").values
    except StackFileError as exc:
        message = str(exc).replace(str(path), "").lstrip(": ")
        return Problem(name, object_name, STACK_REVISION_KEY, message)
    try:
        revision = json.loads(values.get(f"{NAMESPACE}:gitops", "{}")).get("revision")
    except (ValueError, AttributeError):
        revision = None
    if not isinstance(revision, str) or not revision:
        message = "not set: the root Application needs the Git ref to follow"
        return Problem(name, object_name, STACK_REVISION_KEY, message)
    return StackRevision(revision, name)


def revision_problems(
    env: str, rendered: dict[str, list[RenderedObject]], stack: StackRevision
) -> list[Problem]:
    """Each Application of `gitops/envs/<env>` whose source in this repository follows another
    ref than the stack's root Application (`stack.value`): the root would sync one ref and the
    Applications it creates another, so a merge to main could reach an environment whose root
    does not follow main, or the other way round. Of a cluster's overlay root
    (`prod/clusters/prod-b`), its own Applications, which follow the overlay's revision.yaml."""
    env_key = _relative(tree.GITOPS_DIR / "envs" / env)
    source_file = _relative(revision_file(env, tree.GITOPS_DIR))
    problems = []
    for item in rendered.get(env_key, []):
        if item.manifest.get("kind") != "Application":
            continue
        spec = item.manifest.get("spec") or {}
        for index, source in enumerate(_sources(item.manifest)):
            if source.get("repoURL") != GITOPS_REPO_URL:
                continue
            found = source.get("targetRevision")
            if found == stack.value:
                continue
            field = "spec.source" if spec.get("source") and index == 0 else f"spec.sources[{index}]"
            problems.append(
                Problem(
                    source_file,
                    describe(item.manifest),
                    f"{field}.targetRevision",
                    f"follows {found!r}, but {STACK_REVISION_KEY} in {stack.file} (the root "
                    f"Application's targetRevision) is {stack.value!r}: the root and the "
                    "Applications it creates must follow the same Git ref; change one of them",
                )
            )
    return problems
