"""Everything together: the schemas and platform rules of one kustomization, and of an
environment also its environment rules and revisions."""

from __future__ import annotations

from pathlib import Path

from .rendering import _render_environment, render_with_origins
from .revisions import StackRevision, revision_problems, stack_revision
from .rules import _rule_problems, environment_rules
from .schemas import validate_manifest
from .tree import Problem, RenderedObject


def validate_path(path: Path, kubernetes_version: str) -> list[Problem]:
    """Render one kustomization and check each object's schema and `object_rules`."""
    problems = []
    for item in render_with_origins(path):
        problems += validate_manifest(item.manifest, kubernetes_version, item.origin)
        problems += _rule_problems(item)
    return problems


def validate_environment(
    env: str,
    kubernetes_version: str,
    stack: StackRevision | None = None,
    rendered: dict[str, list[RenderedObject]] | None = None,
) -> list[Problem]:
    """Render an environment and return every schema, platform-rule and revision problem.

    `stack` is the ref the environment's root Application follows; by default the
    `gitops.revision` of `Pulumi.<env>.yaml` (`stack_revision(env)`).
    """
    if rendered is None:  # not rendered by the caller already
        rendered = _render_environment(env)
    problems = []
    for items in rendered.values():
        for item in items:
            problems += validate_manifest(item.manifest, kubernetes_version, item.origin)
            problems += _rule_problems(item)
    problems += environment_rules(env, rendered)
    if stack is None:
        stack = stack_revision(env)
    if isinstance(stack, Problem):
        return [*problems, stack]
    return problems + revision_problems(env, rendered, stack)
