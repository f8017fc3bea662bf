"""Per-cluster overlays (docs/multi-cluster.md, "GitOps across clusters"): a second cluster of an
environment (the stack prod-b) follows `gitops/envs/prod/clusters/prod-b`, which renders prod's
shared Applications (`gitops/envs/prod/base`) at its own revision.yaml, its `platform`
Application following the cluster's add-on values (`gitops/platform/clusters/prod/prod-b`, which
patch prod's where the clusters differ). The checks hold the overlay to its own stack file, as
they hold an environment to its stack."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from config import validate
from offline.validators import gitops
from offline.validators.checks import run_checks
from tests.conftest import NS, document, stack_values, structured, with_key

ROOT = "prod/clusters/prod-b"
K8S = "v1.36.2"
Rendered = dict[str, list[gitops.RenderedObject]]


@pytest.fixture(scope="module")
def prod_b() -> Rendered:
    """prod-b's root rendered as the offline plan renders it (once for the module)."""
    return gitops._render_environment(ROOT, K8S)


def _all(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o.manifest for items in rendered.values() for o in items if o.manifest["kind"] == kind]


def _one(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in _all(rendered, kind) if o["metadata"]["name"] == name]
    return found


def test_the_roots_of_the_tree_are_the_environments_and_their_clusters_overlays() -> None:
    assert gitops.roots() == ("dev", "staging", "prod", ROOT)
    assert gitops.root_of_path("gitops/envs/prod/clusters/prod-b/") == ROOT
    assert gitops.root_of_path("gitops/envs/prod") == "prod"
    # A folder that is no root of the tree: no such overlay, no such environment, not gitops/envs.
    for path in ("gitops/envs/prod/clusters/prod-c", "gitops/envs/qa", "gitops/apps/podinfo"):
        assert gitops.root_of_path(path) is None
    assert (gitops.environment_of(ROOT), gitops.cluster_of(ROOT), gitops.stack_of(ROOT)) == (
        "prod",
        "prod-b",
        "prod-b",
    )
    assert gitops.platform_path(ROOT) == "gitops/platform/clusters/prod/prod-b"
    assert gitops.root_project(ROOT) == "prod-root"  # the root project is the environment's
    with pytest.raises(gitops.GitOpsError, match="unknown root 'prod/clusters/prod-c'"):
        gitops._render_environment("prod/clusters/prod-c", K8S)


def test_prod_b_renders_prod_with_its_own_values_and_passes_its_checks(prod_b: Rendered) -> None:
    root = prod_b[gitops.root_path(ROOT)]
    apps = {o.manifest["metadata"]["name"]: o.manifest["spec"] for o in root}
    # prod's Applications and project, from gitops/envs/prod/base, at prod-b's own ref.
    assert sorted(o.manifest["kind"] for o in root) == ["AppProject", "Application", "Application"]
    assert apps["podinfo"]["source"]["path"] == "gitops/apps/podinfo/overlays/prod"
    assert apps["platform"]["source"]["path"] == "gitops/platform/clusters/prod/prod-b"
    assert {spec["source"]["targetRevision"] for spec in apps.values() if "source" in spec} == {
        "env/prod-b"
    }
    # The values where prod-b differs from prod (Pulumi.prod-b.yaml).
    (storage_class,) = _all(prod_b, "StorageClass")
    assert storage_class["allowedTopologies"] == [
        {
            "matchLabelExpressions": [
                {"key": "topology.kubernetes.io/region", "values": ["site-b"]},
                {"key": "topology.kubernetes.io/zone", "values": ["pve-b1", "pve-b2", "pve-b3"]},
            ]
        }
    ]
    location = _one(prod_b, "BackupStorageLocation", "default")
    assert location["spec"]["objectStorage"]["bucket"] == "talos-platform-prod-b-backups"
    prometheus = _one(prod_b, "Prometheus", "kube-prometheus-stack-prometheus")
    assert prometheus["spec"]["externalLabels"] == {"cluster": "prod-b"}
    assert prometheus["spec"]["externalUrl"] == "https://prometheus-b.example.com"
    slos = {
        rule["labels"]["slo_hostname"]
        for obj in _all(prod_b, "PrometheusRule")
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
        if "slo_hostname" in (rule.get("labels") or {})
    }
    assert slos == {
        "app.example.com",
        "argocd-b.example.com",
        "grafana-b.example.com",
        "prometheus-b.example.com",
        "alertmanager-b.example.com",
    }
    # Every check of the tree against Pulumi.prod-b.yaml (the plan's, but the program's objects).
    assert gitops.validate_environment(ROOT, K8S, rendered=prod_b) == []


def test_each_prometheus_is_labelled_with_its_cluster(prod_b: Rendered) -> None:
    """A shared hostname's SLO series are told apart, and summed, by `cluster` where clusters'
    series meet: prod-b's stack would disagree with prod's label."""
    stack = gitops.stack_platform(ROOT)
    assert isinstance(stack, gitops.StackPlatform) and stack.cluster == "prod-b"
    as_prod = gitops.platform_problems(ROOT, prod_b, replace(stack, cluster="prod"))
    assert [(p.field, p.message.split(":")[0]) for p in as_prod] == [
        (
            "spec.source.helm.valuesObject.prometheus.prometheusSpec.externalLabels.cluster",
            "'prod-b', but talos-platform",
        )
    ]


def test_a_wrong_overlay_value_fails_the_plan_naming_the_stack_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, tree)
    patch = tree / "platform" / "clusters" / "prod" / "prod-b" / "proxmox-csi-plugin.yaml"
    patch.write_text(patch.read_text().replace("- site-b", "- datacentre"))
    revision = tree / "envs" / "prod" / "clusters" / "prod-b" / "revision.yaml"
    revision.write_text(revision.read_text().replace("revision: env/prod-b", "revision: env/prod"))
    monkeypatch.setattr(gitops.tree, "GITOPS_DIR", tree)
    problems = run_checks(document("prod-b"), K8S).problems
    region = [p for p in problems if "allowedTopologies: regions ['datacentre']" in p]
    assert region and all("proxmox.region 'site-b' of Pulumi.prod-b.yaml" in p for p in region), (
        problems
    )
    # The overlay's own ref is what the stack's gitops.revision must match: its Applications,
    # and the add-ons that follow this repository, would follow env/prod.
    assert any(
        p.startswith(
            f"{revision}: Application argocd/podinfo: spec.source.targetRevision: follows "
            "'env/prod', but talos-platform:gitops.revision in the stack file"
        )
        for p in problems
    ), problems
    assert any(
        "monitoring-config: spec.source.targetRevision: must be 'env/prod' "
        "(gitops/envs/prod/clusters/prod-b/revision.yaml)" in p
        for p in problems
    ), problems


def test_a_stack_follows_its_environment_or_its_own_clusters_overlay() -> None:
    values, secrets = stack_values("prod-b")
    assert [str(p) for p in validate(values, secrets).problems] == []
    gitops_config = structured(values, "gitops")

    def problems(path: str, cluster: str = "prod-b") -> list[str]:
        changed = with_key(values, "gitops", {**gitops_config, "path": path})
        changed = with_key(changed, "cluster_name", cluster)
        return [str(p) for p in validate(changed, secrets).problems if "gitops.path" in p.key]

    assert problems("gitops/envs/prod") == []
    # Another cluster's overlay, or an overlay that does not exist, is refused.
    assert problems("gitops/envs/prod/clusters/prod-b", cluster="prod-c") == [
        f"{NS}:gitops.path: got 'gitops/envs/prod/clusters/prod-b'; expected gitops/envs/prod, "
        "the app-of-apps of this stack's environment (prod), or "
        "gitops/envs/prod/clusters/prod-c, this cluster's overlay of it (none yet: create "
        "gitops/envs/prod/clusters/prod-c/kustomization.yaml, docs/multi-cluster.md)"
    ]
    assert problems("gitops/envs/staging") == [
        f"{NS}:gitops.path: got 'gitops/envs/staging'; expected gitops/envs/prod, the "
        "app-of-apps of this stack's environment (prod), or gitops/envs/prod/clusters/prod-b, "
        "this cluster's overlay of it"
    ]
