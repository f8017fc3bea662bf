"""Argo CD's resource exclusions (argocd-cm `resource.exclusions`, `resource.inclusions`) against
the tree: an object of a kind Argo CD excludes is never applied, and the offline plan says so
(offline/validators/gitops/exclusions.py). The shipped tree has none; the old control-plane
`endpoints` values of kube-prometheus-stack, whose Endpoints objects the argo-cd chart's default
exclusions drop, fail the plan."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from offline.validators import gitops
from offline.validators.checks import CheckResult, gitops_tree
from offline.validators.gitops import exclusions
from offline.validators.gitops.exclusions import (
    ArgoCdConfigMap,
    FilteredResource,
    ResourceFilter,
    exclusion_problems,
    values_argocd_cm,
)
from tests.conftest import document

ENVS = gitops.ENVIRONMENTS
K8S = "v1.36.2"
IN_CLUSTER = gitops.IN_CLUSTER_SERVER
APP = "kube-prometheus-stack"
CHART_KEY = "chart kube-prometheus-stack 88.5.3 (Application kube-prometheus-stack)"
RELEASE_CM = (
    "upstream/charts/argo-cd/templates/argocd-configs/argocd-cm.yaml (Helm release argocd, "
    "values of components/argocd/values.py)"
)


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict[str, list[gitops.RenderedObject]]]:
    return {env: gitops._render_environment(env, K8S) for env in ENVS}


def configmap(**data: str) -> ArgoCdConfigMap:
    return ArgoCdConfigMap(data, "argocd-cm.yaml")


# --- What Argo CD does -------------------------------------------------------------------------


def test_the_filter_is_argo_cds() -> None:
    """argo-cd v3.4.4 util/settings/resources_filter_test.go and filtered_resource.go."""
    empty = ResourceFilter()
    # Its built-in exclusions, whatever argocd-cm says.
    assert empty.excluded_by("events.k8s.io", "Event", "") is not None
    assert empty.excluded_by("metrics.k8s.io", "PodMetrics", "") is not None
    assert empty.excluded_by("", "Event", "") is not None
    assert empty.excluded_by("coordination.k8s.io", "Lease", "") is not None
    assert empty.excluded_by("rubbish.io", "", "") is None
    assert empty.excluded_by("", "Endpoints", IN_CLUSTER) is None
    # Groups and clusters are globs (gobwas/glob), kinds exact or `*`.
    rule = FilteredResource(("*.k8s.io", "{apps,batch}"), ("*",), ("https://*.svc",))
    filter_ = ResourceFilter(exclusions=(rule,))
    assert filter_.excluded_by("discovery.k8s.io", "EndpointSlice", IN_CLUSTER)
    assert filter_.excluded_by("batch", "Job", IN_CLUSTER)
    assert filter_.excluded_by("apps", "Deployment", "https://other:6443") is None
    assert filter_.excluded_by("", "Service", IN_CLUSTER) is None
    kinds = ResourceFilter(exclusions=(FilteredResource(("[!a]*",), ("Secret",)),))
    assert kinds.excluded_by("", "Secret", "x") is None  # `[!a]*` needs one character
    assert kinds.excluded_by("batch", "Secret", "x") is not None
    assert kinds.excluded_by("apps", "Secret", "x") is None
    assert kinds.excluded_by("batch", "Job", "x") is None
    # Inclusions: what none includes is excluded, on the clusters they name only.
    included = ResourceFilter(inclusions=(FilteredResource(("apps",), (), (IN_CLUSTER,)),))
    assert included.excluded_by("apps", "Deployment", IN_CLUSTER) is None
    assert included.excluded_by("", "ConfigMap", IN_CLUSTER) == (
        "not included by resource.inclusions in argocd-cm, which lists this cluster"
    )
    assert included.excluded_by("", "ConfigMap", "https://other:6443") is None
    # An exclusion wins over an inclusion.
    both = ResourceFilter(
        exclusions=(FilteredResource(("apps",), ("DaemonSet",)),),
        inclusions=(FilteredResource(("apps",)),),
    )
    assert both.excluded_by("apps", "DaemonSet", IN_CLUSTER) is not None
    assert both.excluded_by("apps", "Deployment", IN_CLUSTER) is None


def test_the_chart_defaults_exclude_endpoints() -> None:
    """The argo-cd chart's `configs.cm."resource.exclusions"` (upstream/charts/argo-cd/
    values.yaml), which components/argocd/values.py does not override."""
    config = gitops.default_argocd_cm("dev")
    filter_ = exclusions.resource_filter(config)
    for group, kind in (
        ("", "Endpoints"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("coordination.k8s.io", "Lease"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ):
        assert filter_.excluded_by(group, kind, IN_CLUSTER) is not None, kind
    for group, kind in (("", "Service"), ("monitoring.coreos.com", "ScrapeConfig")):
        assert filter_.excluded_by(group, kind, IN_CLUSTER) is None, kind


@pytest.mark.parametrize("env", ENVS)
def test_the_values_give_the_argocd_cm_the_release_renders(env: str) -> None:
    """The default (components/argocd/values.py over the chart's defaults, no Helm) is what the
    pinned Helm renders for the plan's release, but for the URL and the login it leaves out."""
    release = gitops.release_argocd_cm(document(env), K8S)
    assert release is not None and release.origin == RELEASE_CM
    default = gitops.default_argocd_cm(env)
    stack_specific = {"url", "admin.enabled", "oidc.config"}
    assert {k: v for k, v in release.data.items() if k not in stack_specific} == {
        k: v for k, v in default.data.items() if k not in stack_specific
    }
    assert release.data["resource.exclusions"] == default.data["resource.exclusions"]


def test_values_override_and_remove_the_charts() -> None:
    values = {"configs": {"cm": {"resource.exclusions": None, "resource.inclusions": "- {}"}}}
    data = values_argocd_cm(values).data
    assert "resource.exclusions" not in data
    assert data["resource.inclusions"] == "- {}"
    assert "create" not in data and "annotations" not in data
    assert values_argocd_cm({"configs": {"cm": {"exec.enabled": False}}}).data["exec.enabled"] == (
        "false"
    )


# --- The shipped tree --------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_argo_cd_applies_every_object_of_the_tree(env: str, shipped: dict[str, Any]) -> None:
    assert exclusion_problems(env, shipped[env], gitops.default_argocd_cm(env)) == []
    release = gitops.release_argocd_cm(document(env), K8S)
    assert release is not None
    assert exclusion_problems(env, shipped[env], release) == []


def test_every_source_is_covered(shipped: dict[str, Any]) -> None:
    """The root's folder, every folder an Application follows, every chart it installs: an
    argocd-cm that includes nothing (on this cluster) leaves every object out."""
    rendered = shipped["prod"]
    nothing = configmap(**{"resource.inclusions": f"- clusters: [{IN_CLUSTER}]\n  kinds: [None]"})
    problems = exclusion_problems("prod", rendered, nothing)
    # What operators make at run time (operator.py, velero_pods.py) is no source's.
    operator = {k for k in rendered if k.startswith(("prometheus-operator", "velero ("))}
    applied = [o for key, items in rendered.items() if key not in operator for o in items]
    assert len(problems) == len(applied)
    apps = {p.message.split("; ")[1].split(" drops")[0] for p in problems}
    assert "Application argocd/root (gitops/envs/prod)" in apps
    assert "Application argocd/podinfo (gitops/apps/podinfo/overlays/prod)" in apps
    assert f"Application argocd/{APP} (chart {APP} 88.5.3)" in apps
    assert "Application argocd/monitoring-config (gitops/platform/monitoring/envs/prod)" in apps
    # What the Prometheus Operator and Velero make is not Argo CD's to apply.
    assert not {p.object for p in problems} & {
        f"StatefulSet monitoring/prometheus-{APP}-prometheus",
        "Job velero/velero-volumes-podinfo-redis-data",
    }


def test_an_excluded_kind_of_a_folder_names_its_file(shipped: dict[str, Any]) -> None:
    config = configmap(
        **{"resource.exclusions": "- apiGroups: [monitoring.coreos.com]\n  kinds: [ScrapeConfig]"}
    )
    (problem,) = exclusion_problems("staging", shipped["staging"], config)
    assert (problem.source, problem.object, problem.field) == (
        "gitops/platform/monitoring/base/scrapeconfigs.yaml",
        "ScrapeConfig monitoring/kube-etcd",
        "kind",
    )
    assert problem.message == (
        "Argo CD would not apply it: excluded by resource.exclusions in argocd-cm (apiGroups "
        "'monitoring.coreos.com'; kinds 'ScrapeConfig'); Application argocd/monitoring-config "
        "(gitops/platform/monitoring/envs/staging) drops it from its target before every sync "
        "(ExcludedResourceWarning) and still reports Synced (argocd-cm: argocd-cm.yaml)"
    )


@pytest.mark.parametrize(
    "text",
    ["apiGroups: [x]", "- kinds: Endpoints", "- [x]", "- apiGroups: [x\n"],
)
def test_an_unreadable_filter_is_one_problem(text: str, shipped: dict[str, Any]) -> None:
    (problem,) = exclusion_problems(
        "dev", shipped["dev"], configmap(**{"resource.exclusions": text})
    )
    assert (problem.source, problem.object, problem.field) == (
        "argocd-cm.yaml",
        "ConfigMap argocd/argocd-cm",
        "data",
    )
    assert problem.message.endswith(
        "Argo CD could not read its resource filter and compares no Application"
    )


# --- The lesson: the old endpoints values fail the plan -----------------------------------------

OLD_ENDPOINTS = """\
      valuesObject:
        kubeControllerManager:
          endpoints:
            - 192.0.2.11  # dev-cp-1
        kubeScheduler:
          endpoints:
            - 192.0.2.11  # dev-cp-1
        kubeEtcd:
          endpoints:
            - 192.0.2.11  # dev-cp-1
"""


def test_the_old_endpoints_values_fail_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kube-prometheus-stack's `*.endpoints` render Endpoints objects, which the argocd-cm of the
    stack's argo-cd release excludes: Argo CD would drop them, and the control plane would never
    be scraped. The plan (checks.gitops_tree, with the release's argocd-cm) names each."""
    tree = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, tree)
    patch = tree / "platform" / "envs" / "dev" / "kube-prometheus-stack.yaml"
    text = patch.read_text()
    assert text.count("      valuesObject:\n") == 1
    patch.write_text(text.replace("      valuesObject:\n", OLD_ENDPOINTS))
    monkeypatch.setattr(gitops.tree, "GITOPS_DIR", tree)
    result = CheckResult()
    gitops_tree(copy.deepcopy(document("dev")), K8S, result)
    excluded = [p for p in result.problems if "Argo CD would not apply it" in p]
    template = "upstream/charts/kube-prometheus-stack/templates/exporters"
    assert excluded == [
        f"{template}/{component}/endpoints.yaml: Endpoints kube-system/{APP}-{component}: kind: "
        "Argo CD would not apply it: excluded by resource.exclusions in argocd-cm (apiGroups '', "
        "'discovery.k8s.io'; kinds 'Endpoints', 'EndpointSlice'); Application "
        f"argocd/{APP} (chart {APP} 88.5.3) drops it from its target before every sync "
        f"(ExcludedResourceWarning) and still reports Synced (argocd-cm: {RELEASE_CM})"
        for component in ("kube-controller-manager", "kube-etcd", "kube-scheduler")
    ]
    # And the monitoring add-on's own check says what to do instead.
    application = tree / "platform" / "addons" / APP / "application.yaml"  # patched there
    values = f"{application}: Application argocd/{APP}: spec.source.helm.valuesObject"
    for key in ("kubeControllerManager", "kubeScheduler", "kubeEtcd"):
        assert any(p.startswith(f"{values}.{key}.endpoints: ") for p in result.problems), key
