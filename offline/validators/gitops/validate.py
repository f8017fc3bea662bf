"""Everything together: the schemas and platform rules of one kustomization, and of an
environment also its environment rules, the Helm charts its Applications install, the platform
add-ons and their agreement with the stack, and revisions."""

from __future__ import annotations

from pathlib import Path

from .addons import addon_problems
from .charts import helm_sources, source_problems
from .exclusions import ArgoCdConfigMap, default_argocd_cm, exclusion_problems
from .platform import platform_problems
from .rendering import _render_environment, render_with_origins
from .revisions import StackRevision, revision_problems, stack_revision
from .rules import _rule_problems, environment_rules, host_access, host_access_problems
from .schemas import validate_manifest
from .stack import StackPlatform, stack_platform
from .tree import Problem, RenderedObject


def validate_path(path: Path, kubernetes_version: str) -> list[Problem]:
    """Render one kustomization and check each object's schema and `object_rules`."""
    problems = []
    for item in render_with_origins(path):
        problems += validate_manifest(item.manifest, kubernetes_version, item.origin)
        problems += _rule_problems(item)
    return problems


def chart_problems(
    rendered: dict[str, list[RenderedObject]], kubernetes_version: str
) -> list[Problem]:
    """Each Helm source of each Application: chart vendored at the pinned version, values the
    chart reads, a render that succeeds (charts.source_problems)."""
    problems = []
    for folder, items in rendered.items():
        for item in items:
            if item.manifest.get("kind") != "Application":
                continue
            for source in helm_sources(item.manifest):
                problems += source_problems(item, source, kubernetes_version, folder)
    return problems


def validate_environment(
    env: str,
    kubernetes_version: str,
    stack: StackRevision | None = None,
    rendered: dict[str, list[RenderedObject]] | None = None,
    platform: StackPlatform | Problem | None = None,
    argocd_cm: ArgoCdConfigMap | None = None,
) -> list[Problem]:
    """Render an environment and return every schema, platform-rule, chart, add-on, stack,
    revision and resource-exclusion problem.

    `stack` is the ref the environment's root Application follows; by default the
    `gitops.revision` of `Pulumi.<env>.yaml` (`stack_revision(env)`). `platform` is what the
    add-ons must agree with; by default read from `Pulumi.<env>.yaml` (`stack_platform(env)`).
    `argocd_cm` is the Argo CD configuration whose `resource.exclusions` and
    `resource.inclusions` decide what Argo CD applies at all (exclusions.py); by default the one
    the argo-cd chart renders from components/argocd/values.py (`default_argocd_cm(env)`).
    """
    if rendered is None:  # not rendered by the caller already
        rendered = _render_environment(env, kubernetes_version)
    problems = []
    allowed = host_access(env, rendered)
    for items in rendered.values():
        for item in items:
            problems += validate_manifest(item.manifest, kubernetes_version, item.origin)
            problems += _rule_problems(item, allowed.get(id(item), frozenset()))
    problems += host_access_problems(env, rendered)
    problems += environment_rules(env, rendered)
    problems += chart_problems(rendered, kubernetes_version)
    problems += addon_problems(env, rendered)
    problems += exclusion_problems(env, rendered, argocd_cm or default_argocd_cm(env))
    if platform is None:
        platform = stack_platform(env)
    if isinstance(platform, Problem):
        problems.append(platform)
    else:
        problems += platform_problems(env, rendered, platform)
    if stack is None:
        stack = stack_revision(env)
    if isinstance(stack, Problem):
        return [*problems, stack]
    return problems + revision_problems(env, rendered, stack)
