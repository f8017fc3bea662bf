"""Strict validation of the rendered tree, and proof that it catches what it claims to."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from offline.validators import gitops

from .conftest import KUBERNETES_VERSIONS, find


@pytest.fixture
def gitops_copy(tmp_path: Path) -> Path:
    """A writable copy of gitops/ to break on purpose."""
    target = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, target)
    return target


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_environment_has_no_problems(env: str, kubernetes_version: str) -> None:
    problems = gitops.validate_environment(env, kubernetes_version)
    assert not problems, "\n".join(map(str, problems))


def test_misspelled_field_in_a_manifest_names_file_and_field(gitops_copy: Path) -> None:
    base = gitops_copy / "apps" / "podinfo" / "base" / "frontend.yaml"
    _replace(base, "imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent")
    problems = gitops.validate_path(gitops_copy / "apps" / "podinfo" / "overlays" / "dev", "1.36")
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.source == str(base)
    assert problem.object == "Deployment podinfo/frontend"
    assert problem.field == "spec.template.spec.containers[0].imagePullPolicyy"
    assert "imagePullPolicy" in problem.message
    assert str(problem).startswith(f"{base}: Deployment podinfo/frontend: spec.template")


def test_misspelled_field_in_an_overlay_patch_is_caught(gitops_copy: Path) -> None:
    overlay = gitops_copy / "apps" / "podinfo" / "overlays" / "prod"
    _replace(overlay / "scaling.yaml", "  maxReplicas: 10", "  maxReplica: 10")
    fields = {problem.field for problem in gitops.validate_path(overlay, "v1.36.2")}
    assert fields == {"spec.maxReplica"}


def test_misspelled_application_field_is_caught(gitops_copy: Path) -> None:
    app = gitops_copy / "envs" / "staging" / "podinfo.yaml"
    _replace(app, "selfHeal: true", "selfHeel: true")
    problems = gitops.validate_path(gitops_copy / "envs" / "staging", "1.36")
    assert {(p.source, p.field) for p in problems} == {
        (str(app), "spec.syncPolicy.automated.selfHeel"),
        (str(app), "spec.syncPolicy.automated.selfHeal"),  # the platform rule: selfHeal required
    }
    assert any("did you mean 'selfHeal'" in p.message for p in problems)


def test_argo_objects_are_checked_against_the_crds(rendered: dict[str, Any]) -> None:
    app = copy.deepcopy(find(rendered["dev"], "Application", "podinfo"))
    app["spec"]["revisionHistoryLimit"] = "ten"
    del app["spec"]["destination"]
    app["metadata"]["labelz"] = {}
    problems = gitops.validate_manifest(app, "1.36", "envs/dev/podinfo.yaml")
    assert {p.field for p in problems} == {
        "spec.revisionHistoryLimit",
        "spec.destination",
        "metadata.labelz",
    }
    project = copy.deepcopy(find(rendered["dev"], "AppProject", "dev"))
    project["spec"]["destinations"][0]["namepsace"] = "x"
    fields = [p.field for p in gitops.validate_manifest(project, "1.36", "x")]
    assert fields == ["spec.destinations[0].namepsace"]


def test_removed_api_version_is_a_problem(rendered: dict[str, Any]) -> None:
    hpa = copy.deepcopy(find(rendered["dev"], "HorizontalPodAutoscaler", "frontend"))
    hpa["apiVersion"] = "autoscaling/v2beta2"  # removed in Kubernetes 1.26
    problems = gitops.validate_manifest(hpa, "v1.36.2", "x")
    assert [p.field for p in problems] == ["apiVersion"]


def _deployment(rendered: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(find(rendered["prod"], "Deployment", "frontend"))


def test_platform_rules(rendered: dict[str, Any]) -> None:
    service = copy.deepcopy(find(rendered["prod"], "Service", "frontend"))
    service["spec"]["type"] = "LoadBalancer"
    assert [field for field, _ in gitops.object_rules(service)] == ["spec.type"]
    service["spec"]["type"] = "NodePort"
    assert [field for field, _ in gitops.object_rules(service)] == ["spec.type"]

    deployment = _deployment(rendered)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["ports"][0]["hostPort"] = 8080
    container["image"] = "ghcr.io/stefanprodan/podinfo:latest"
    assert [field for field, _ in gitops.object_rules(deployment)] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[0].ports[0].hostPort",
    ]

    app = copy.deepcopy(find(rendered["prod"], "Application", "podinfo"))
    app["spec"]["syncPolicy"]["automated"] = {"prune": True}
    assert [field for field, _ in gitops.object_rules(app)] == [
        "spec.syncPolicy.automated.selfHeal"
    ]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/stefanprodan/podinfo:6.9.2", True),
        ("registry:5000/team/app@sha256:" + "a" * 64, True),
        ("ghcr.io/stefanprodan/podinfo", False),
        ("registry:5000/team/app", False),
        ("nginx:latest", False),
    ],
)
def test_image_tags(image: str, pinned: bool) -> None:
    assert (gitops.image_tag_problem(image) is None) is pinned


def test_environment_rules_catch_a_cross_wired_application(gitops_copy: Path) -> None:
    # prod's Applications and project are in base/, which its clusters' overlays share.
    app = gitops_copy / "envs" / "prod" / "base" / "podinfo.yaml"
    _replace(
        app, "path: gitops/apps/podinfo/overlays/prod", "path: gitops/apps/podinfo/overlays/dev"
    )
    _replace(app, "project: prod", "project: dev")
    project = gitops_copy / "envs" / "prod" / "base" / "appproject.yaml"
    _replace(project, "      kind: NetworkPolicy\n", "      kind: NetworkPolicyX\n")
    rendered = {
        "gitops/envs/prod": gitops.render_with_origins(gitops_copy / "envs" / "prod"),
        "gitops/apps/podinfo/overlays/dev": gitops.render_with_origins(
            gitops.GITOPS_DIR / "apps" / "podinfo" / "overlays" / "dev"
        ),
    }
    problems = gitops.environment_rules("prod", rendered)
    fields = {(p.object.split()[0], p.field) for p in problems}
    assert ("Application", "spec.project") in fields
    assert ("Application", "spec.source.path") in fields
    assert ("NetworkPolicy", "kind") in fields


@pytest.mark.parametrize(
    ("given", "expected"), [("v1.36.2", "1.36"), ("1.31", "1.31"), ("v1.33.0-rc.1", "1.33")]
)
def test_schema_version(given: str, expected: str) -> None:
    assert gitops.schema_version(given) == expected


@pytest.mark.parametrize("given", ["1.99", "latest", "v1"])
def test_unsupported_kubernetes_version_is_a_clear_error(given: str) -> None:
    with pytest.raises(gitops.GitOpsError, match=r"Kubernetes|version"):
        gitops.schema_version(given)


def test_render_error_names_the_path(gitops_copy: Path) -> None:
    overlay = gitops_copy / "apps" / "podinfo" / "overlays" / "dev"
    _replace(overlay / "kustomization.yaml", "  - ../../base", "  - ../../basis")
    with pytest.raises(gitops.GitOpsError, match=r"could not render .*overlays/dev: .*basis"):
        gitops.render(overlay)


def test_missing_kubectl_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(gitops.rendering.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gitops.GitOpsError, match=r"requirements-dev\.txt"):
        gitops.kubectl_path()


def test_a_missing_crd_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gitops.schemas, "ARGOCD_CRDS_DIR", tmp_path)
    gitops.crd_schema.cache_clear()
    gitops.schemas.vendored_crd.cache_clear()
    try:
        with pytest.raises(gitops.GitOpsError, match=r"upstream/argocd/crds should hold"):
            gitops.crd_schema("Application")
    finally:
        gitops.crd_schema.cache_clear()
        gitops.schemas.vendored_crd.cache_clear()
