"""Helm releases rendered by the pinned Helm from the vendored chart, and every object checked.

Each render runs `helm template` (about 0.5 s); renders are cached per values within the
process, so the shipped stacks render once for this module and test_checks together.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from offline.validators import helm_render
from offline.validators.helm_render import (
    HELM_SHA256,
    HelmError,
    file_sha256,
    helm_binary,
    release_problems,
    render_release,
    rendered_releases,
    verify_binary,
)
from tests.conftest import document

K8S = "v1.36.2"


def release(doc: dict) -> dict:
    return next(r for r in doc["resources"] if r["type"] == helm_render.RELEASE_TYPE)


def with_values(stack: str, **changes: object) -> dict:
    """The stack's plan document with dotted `changes` made to the argo-cd values."""
    doc = copy.deepcopy(document(stack))
    values = release(doc)["inputs"]["values"]
    for dotted, value in changes.items():
        *parents, last = dotted.replace("__", ".").split(".")
        target = values
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return doc


def workloads(objects: list[dict]) -> set[tuple[str, str]]:
    kinds = ("Deployment", "StatefulSet", "DaemonSet")
    return {(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in kinds}


@pytest.mark.parametrize(
    ("stack", "redis"),
    [
        ("dev", {("Deployment", "argocd-redis")}),
        (
            "prod",
            {("StatefulSet", "argocd-redis-ha-server"), ("Deployment", "argocd-redis-ha-haproxy")},
        ),
    ],
)
def test_shipped_stacks_render_and_validate(stack: str, redis: set) -> None:
    doc = document(stack)
    assert release_problems(doc, K8S) == []
    objects = rendered_releases(doc, K8S)["argocd"]
    found = workloads(objects)
    assert redis <= found
    assert ("Deployment", "argocd-server") in found
    assert not any("redis-ha" in name for _, name in found - redis)
    # The check renders without the CRDs (RENDER_OVERRIDES; see the next test); chart tests
    # are not rendered.
    assert not [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert not any(o["kind"] == "Pod" for o in objects)
    assert all(o["metadata"].get("namespace") in (None, "argocd") for o in objects)


def test_rendered_objects_are_copies() -> None:
    resource = release(document("dev"))
    first = render_release(resource, K8S)
    first[0]["kind"] = "Changed"
    assert render_release(resource, K8S)[0]["kind"] != "Changed"


def test_misspelt_value_names_the_release_and_the_values_path() -> None:
    problems = release_problems(with_values("prod", **{"server.replica": 3}), K8S)
    assert len(problems) == 1
    assert problems[0].startswith("argocd: Helm value `server.replica` ")
    assert "Helm would ignore it" in problems[0]


def test_misspelt_subchart_value_is_caught_below_the_subchart_key() -> None:
    problems = release_problems(with_values("prod", **{"redis-ha.haproxy.replicaz": 2}), K8S)
    assert [p.split(" (")[0] for p in problems] == [
        "argocd: Helm value `redis-ha.haproxy.replicaz`"
    ]


def test_template_failure_names_the_release_and_the_values_path() -> None:
    # configs.cm must be a map: the chart indexes it (`index .Values.configs.cm "exec.enabled"`).
    problems = release_problems(with_values("dev", **{"configs.cm": "exec.enabled"}), K8S)
    assert len(problems) == 1
    assert problems[0].startswith(
        "argocd: the chart failed to render at values path `configs.cm`: template: argo-cd/"
    )
    assert "\n" not in problems[0]


def test_value_of_the_wrong_type_fails_validation_of_the_rendered_object() -> None:
    problems = release_problems(with_values("dev", **{"server.replicas": "two"}), K8S)
    assert problems == [
        "argocd: argo-cd/templates/argocd-server/deployment.yaml: Deployment argocd/argocd-server: "
        "spec.replicas: 'two' is not of type 'integer', 'null'"
    ]


def test_render_release_raises_naming_the_release() -> None:
    resource = release(with_values("dev", **{"configs.cm": "x"}))
    with pytest.raises(HelmError, match=r"^argocd: the chart failed to render"):
        render_release(resource, K8S)


def test_a_chart_version_that_is_not_vendored_is_an_error() -> None:
    doc = copy.deepcopy(document("dev"))
    release(doc)["inputs"]["version"] = "10.2.0"
    assert release_problems(doc, K8S) == [
        "argocd: asks for chart argo-cd 10.2.0, but upstream/charts/argo-cd is 10.1.1"
    ]
    assert set(rendered_releases(doc, K8S)) == {"cilium"}


def test_helm_warnings_are_problems_with_the_values_path() -> None:
    stderr = (
        "coalesce.go:298: warning: cannot overwrite table with non table for "
        "argo-cd.configs.cm (map[admin.enabled:true\n  - x\n])\n"
    )
    assert helm_render._warnings(stderr) == [
        "Helm warns at values path `configs.cm`: cannot overwrite table with non table"
    ]


def test_the_binary_is_the_pinned_helm() -> None:
    path = helm_binary()
    assert file_sha256(path) == HELM_SHA256
    assert verify_binary(path) == path


def test_a_binary_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho v3.17.2\n")
    with pytest.raises(HelmError, match=r"is not the pinned Helm v3\.17\.2"):
        verify_binary(fake)


def test_a_tampered_cached_binary_is_extracted_again(tmp_path: Path) -> None:
    (tmp_path / "helm").write_text("tampered")
    path = helm_binary(tmp_path)
    assert path == tmp_path / "helm"
    assert file_sha256(path) == HELM_SHA256


def test_the_crds_the_release_installs_are_the_vendored_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the check may render without them: rendered in full, the chart's CRDs are, spec for
    spec, the vendored upstream/argocd/crds the Argo CD objects are validated against."""
    from offline.validators import helm_render
    from offline.validators.gitops.schemas import is_vendored_crd

    monkeypatch.setattr(helm_render, "RENDER_OVERRIDES", {})
    helm_render._render.cache_clear()
    try:
        objects = rendered_releases(document("prod"), K8S)["argocd"]
    finally:
        helm_render._render.cache_clear()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert sorted(o["metadata"]["name"] for o in crds) == [
        "applications.argoproj.io",
        "applicationsets.argoproj.io",
        "appprojects.argoproj.io",
    ]
    assert all(is_vendored_crd(o) for o in crds)


def test_another_platform_is_told_where_helm_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from offline.validators import helm_render

    monkeypatch.setattr(helm_render.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(helm_render.platform, "machine", lambda: "arm64")
    with pytest.raises(
        helm_render.HelmError, match=r"for Linux x86_64, this machine is Darwin arm64"
    ):
        helm_render.helm_binary(Path("/nonexistent"))


def test_a_release_that_sets_crds_values_is_rendered_with_its_crds() -> None:
    """The check drops the CRDs only when the release leaves `crds.*` alone."""
    import copy

    from offline.validators import helm_render

    doc = copy.deepcopy(document("dev"))
    release = next(r for r in doc["resources"] if r["type"] == helm_render.RELEASE_TYPE)
    release["inputs"]["values"]["crds"] = {"keep": True}
    objects = rendered_releases(doc, K8S)["argocd"]
    assert sum(o["kind"] == "CustomResourceDefinition" for o in objects) == 3
