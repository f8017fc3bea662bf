"""The rendered tree: app-of-apps wiring, project fences, the podinfo example's safety settings."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from config.repository import tree_repository
from offline.validators import gitops

from .conftest import find, objects

ENVS = gitops.ENVIRONMENTS
Rendered = dict[str, dict[str, list[dict[str, Any]]]]


def _wave(obj: dict[str, Any]) -> int:
    annotations = obj["metadata"].get("annotations") or {}
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def _apps(rendered_env: dict[str, list[dict[str, Any]]], env: str) -> list[dict[str, Any]]:
    """The app Applications of the environment (the platform app-of-apps aside)."""
    return [
        obj
        for obj in rendered_env[f"gitops/envs/{env}"]
        if obj["kind"] == "Application" and obj["metadata"]["name"] != "platform"
    ]


@pytest.mark.parametrize("env", ENVS)
def test_environment_renders_its_project_and_the_app_overlays(env: str, rendered: Rendered) -> None:
    paths = rendered[env]
    assert set(paths) == {
        f"gitops/envs/{env}",
        f"gitops/apps/podinfo/overlays/{env}",
        f"gitops/platform/envs/{env}",
        "chart kubelet-csr-approver 1.2.14 (Application kubelet-csr-approver)",
        "chart metrics-server 3.13.1 (Application metrics-server)",
        "chart proxmox-csi-plugin 0.5.9 (Application proxmox-csi-plugin)",
        "chart kube-prometheus-stack 88.5.3 (Application kube-prometheus-stack)",
        f"gitops/platform/monitoring/envs/{env}",
        f"gitops/platform/etcd-backup/envs/{env}",
        "chart velero 12.1.0 (Application velero)",
        # The StatefulSets the Prometheus Operator makes (offline/validators/gitops/operator.py).
        "prometheus-operator (Prometheus monitoring/kube-prometheus-stack-prometheus)",
        "prometheus-operator (Alertmanager monitoring/kube-prometheus-stack-alertmanager)",
        # What Velero starts for its Schedule (offline/validators/gitops/velero_pods.py).
        "velero (Schedule velero/velero-volumes)",
    }
    kinds = sorted(obj["kind"] for obj in paths[f"gitops/envs/{env}"])
    assert kinds == ["AppProject", "Application", "Application"]
    # The local-config ConfigMaps (repository, revision) are build input only.
    assert not [c for c in objects(paths, "ConfigMap") if c["metadata"]["namespace"] == "argocd"]


def test_render_matches_plain_kustomize() -> None:
    """Keeping object origins must not change what Argo CD would apply."""
    path = gitops.GITOPS_DIR / "apps" / "podinfo" / "overlays" / "prod"
    plain = subprocess.run(
        [str(gitops.kubectl_path()), "kustomize", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert gitops.render(path) == [doc for doc in yaml.safe_load_all(plain) if doc]


@pytest.mark.parametrize("env", ENVS)
def test_applications_follow_their_own_overlay_and_project(env: str, rendered: Rendered) -> None:
    apps = _apps(rendered[env], env)
    assert apps
    for app in apps:
        spec = app["spec"]
        assert app["metadata"]["namespace"] == "argocd"
        assert spec["project"] == env
        assert spec["source"]["repoURL"] == gitops.GITOPS_REPO_URL
        # Each environment follows its own Git ref (tests/gitops/test_env_refs.py).
        assert spec["source"]["targetRevision"] == gitops.environment_revision(env)
        assert spec["source"]["path"] == f"gitops/apps/{app['metadata']['name']}/overlays/{env}"
        assert spec["destination"] == {
            "server": "https://kubernetes.default.svc",
            "namespace": app["metadata"]["name"],
        }
        policy = spec["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}
        assert {"CreateNamespace=true", "ServerSideApply=true"} <= set(policy["syncOptions"])
        assert set(policy["retry"]["backoff"]) == {"duration", "factor", "maxDuration"}
        assert policy["retry"]["limit"] > 0
        assert spec["revisionHistoryLimit"] == 10
        # The project exists before the Applications that use it.
        assert _wave(find(rendered[env], "AppProject", env)) < _wave(app)


def test_repo_url_is_the_documented_placeholder() -> None:
    assert gitops.GITOPS_REPO_URL == "https://github.com/example-org/talos-platform.git"
    assert gitops.GITOPS_REPO_URL == tree_repository()[0] == tree_repository().url


@pytest.mark.parametrize("env", ENVS)
def test_project_only_admits_this_repo_and_the_app_namespaces(env: str, rendered: Rendered) -> None:
    project = find(rendered[env], "AppProject", env)
    spec = project["spec"]
    assert project["metadata"]["namespace"] == "argocd"
    assert spec["sourceRepos"] == [gitops.GITOPS_REPO_URL]
    app_namespaces = {app["spec"]["destination"]["namespace"] for app in _apps(rendered[env], env)}
    assert {(d["server"], d["namespace"]) for d in spec["destinations"]} == {
        ("https://kubernetes.default.svc", namespace) for namespace in app_namespaces
    }
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert all(
        rule["kind"] != "*" and rule["group"] != "*" for rule in spec["namespaceResourceWhitelist"]
    )


@pytest.mark.parametrize("env", ENVS)
def test_nothing_is_exposed_outside_the_tunnel(env: str, rendered: Rendered) -> None:
    for service in objects(rendered[env], "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    for deployment in objects(rendered[env], "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert not pod.get("hostNetwork")
        for container in pod["containers"]:
            assert all("hostPort" not in port for port in container.get("ports") or [])


@pytest.mark.parametrize("env", ENVS)
def test_podinfo_workloads_are_hardened_and_sized(env: str, rendered: Rendered) -> None:
    podinfo = {"podinfo": rendered[env][f"gitops/apps/podinfo/overlays/{env}"]}
    deployments = objects(podinfo, "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == ["backend", "frontend"]
    for deployment in deployments:
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert set(container["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["image"].startswith("ghcr.io/stefanprodan/podinfo:")
        for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"):
            find(rendered[env], kind, deployment["metadata"]["name"])


def test_frontend_calls_the_backend_service_and_is_the_tunnel_target(rendered: Rendered) -> None:
    for env in ENVS:
        frontend = find(rendered[env], "Deployment", "frontend")
        command = frontend["spec"]["template"]["spec"]["containers"][0]["command"]
        assert "--backend-url=http://backend.podinfo.svc.cluster.local:9898/echo" in command
        for name in ("frontend", "backend"):
            service = find(rendered[env], "Service", name)
            assert service["metadata"]["namespace"] == "podinfo"
            assert [port["port"] for port in service["spec"]["ports"]] == [9898]


def _policies_for(
    rendered_env: dict[str, list[dict[str, Any]]], component: str
) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "podinfo", "app.kubernetes.io/component": component}
    return [
        policy
        for policy in objects(rendered_env, "NetworkPolicy")
        if policy["metadata"].get("namespace") == "podinfo"
        and policy["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]


@pytest.mark.parametrize("env", ENVS)
def test_network_policies_deny_by_default_and_allow_only_the_call_chain(
    env: str, rendered: Rendered
) -> None:
    policies = [
        policy
        for policy in objects(rendered[env], "NetworkPolicy")
        if policy["metadata"].get("namespace") == "podinfo"
    ]
    deny = find(rendered[env], "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    def ingress_peers(component: str) -> list[tuple[dict[str, Any], list[int]]]:
        return [
            (peer, [port["port"] for port in rule.get("ports", [])])
            for policy in _policies_for(rendered[env], component)
            for rule in policy["spec"].get("ingress", [])
            for peer in rule["from"]
        ]

    # Prometheus (namespace monitoring) reaches the metrics port only, never the API port.
    monitoring = (
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        [9797],
    )
    assert ingress_peers("backend") == [
        ({"podSelector": {"matchLabels": {"app.kubernetes.io/component": "frontend"}}}, [9898]),
        monitoring,
    ]
    assert ingress_peers("frontend") == [
        (
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cloudflared"}}},
            [9898],
        ),
        monitoring,
    ]
    dns = find(rendered[env], "NetworkPolicy", "allow-dns-egress")["spec"]["egress"][0]["ports"]
    assert sorted((port["protocol"], port["port"]) for port in dns) == [("TCP", 53), ("UDP", 53)]
    # Policies are in place before the pods they protect start.
    first_workload = min(_wave(obj) for obj in objects(rendered[env], "Deployment"))
    assert all(_wave(policy) < first_workload for policy in policies)


def test_overlays_differ_per_environment(rendered: Rendered) -> None:
    floors = {
        env: find(rendered[env], "HorizontalPodAutoscaler", "frontend")["spec"] for env in ENVS
    }
    assert (
        floors["dev"]["minReplicas"]
        < floors["staging"]["minReplicas"]
        < floors["prod"]["minReplicas"]
    )
    assert floors["prod"]["minReplicas"] >= 3
    assert all(spec["maxReplicas"] > spec["minReplicas"] for spec in floors.values())


@pytest.mark.parametrize("env", ENVS)
def test_app_versions_read_the_promotion_point(env: str, rendered: Rendered) -> None:
    versions = gitops.app_versions(env)
    apps = {app["metadata"]["name"] for app in _apps(rendered[env], env)}
    assert set(versions) == apps
    podinfo = {"podinfo": rendered[env][f"gitops/apps/podinfo/overlays/{env}"]}
    for deployment in objects(podinfo, "Deployment"):
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"ghcr.io/stefanprodan/podinfo:{versions['podinfo']}"


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_the_platform_application_retries_forever(
    rendered: dict[str, dict[str, list[dict[str, Any]]]], env: str
) -> None:
    """The root waits for the platform's health before the apps' wave: a sync of the platform
    that gives up would hold every app back until the next commit."""
    platform = find({"env": rendered[env][f"gitops/envs/{env}"]}, "Application", "platform")
    assert platform["spec"]["syncPolicy"]["retry"]["limit"] == -1
