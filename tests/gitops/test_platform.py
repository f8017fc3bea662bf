"""The platform add-ons (gitops/platform): how they are wired, rendered from the vendored charts,
fenced by their project and checked against the stack; and proof that each check fails when it
should, with the message it should."""

from __future__ import annotations

import copy
import dataclasses
import shutil
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from offline.validators import gitops
from offline.validators.gitops import RenderedObject
from tests.conftest import stack_values, with_key

ENVS = gitops.ENVIRONMENTS
K8S = "v1.36.2"
Rendered = dict[str, list[RenderedObject]]
ADDONS = {
    "kubelet-csr-approver": ("https://postfinance.github.io/kubelet-csr-approver", "1.2.14"),
    "metrics-server": ("https://kubernetes-sigs.github.io/metrics-server/", "3.13.1"),
    "proxmox-csi-plugin": ("ghcr.io/sergelogvinov/charts", "0.5.9"),
    "kube-prometheus-stack": ("https://prometheus-community.github.io/helm-charts", "88.5.3"),
    "velero": ("https://vmware-tanzu.github.io/helm-charts", "12.1.0"),
}
#: Add-ons that follow a folder of this repository instead of a chart.
LOCAL_ADDONS = {
    "monitoring-config": "gitops/platform/monitoring/envs/{env}",
    "etcd-backup": "gitops/platform/etcd-backup/envs/{env}",
}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Rendered]:
    return {env: gitops._render_environment(env, K8S) for env in ENVS}


def tree_of(shipped: dict[str, Rendered], env: str) -> Rendered:
    """A copy of an environment's render to break on purpose."""
    return copy.deepcopy(shipped[env])


def chart_key(addon: str) -> str:
    return f"chart {addon} {ADDONS[addon][1]} (Application {addon})"


def item(rendered: Rendered, kind: str, name: str) -> RenderedObject:
    (found,) = [
        i
        for items in rendered.values()
        for i in items
        if i.manifest["kind"] == kind and i.manifest["metadata"]["name"] == name
    ]
    return found


def values(rendered: Rendered, addon: str) -> dict[str, Any]:
    return item(rendered, "Application", addon).manifest["spec"]["source"]["helm"]["valuesObject"]


def wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def messages(problems: list[gitops.Problem]) -> list[str]:
    return [str(p) for p in problems]


# --- The shipped tree --------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_platform_syncs_before_the_apps_from_the_root_project(
    env: str, shipped: dict[str, Rendered]
) -> None:
    platform = item(shipped[env], "Application", "platform").manifest
    podinfo = item(shipped[env], "Application", "podinfo").manifest
    assert wave(platform) < wave(podinfo) == 0
    assert platform["spec"]["project"] == f"{env}-root" == gitops.root_project(env)
    assert platform["spec"]["source"]["path"] == f"gitops/platform/envs/{env}"
    assert platform["spec"]["destination"]["namespace"] == "argocd"
    # Within the platform: the project first, the approver before metrics-server.
    project = item(shipped[env], "AppProject", "platform").manifest
    approver = item(shipped[env], "Application", "kubelet-csr-approver").manifest
    metrics = item(shipped[env], "Application", "metrics-server").manifest
    assert wave(project) < wave(approver) < wave(metrics)


def test_the_platform_project_name_is_the_programs() -> None:
    from components.argocd.root_app import root_project_name

    assert all(gitops.root_project(env) == root_project_name(env) for env in ENVS)


@pytest.mark.parametrize("env", ENVS)
def test_each_addon_is_a_pinned_chart_in_the_platform_project(
    env: str, shipped: dict[str, Rendered]
) -> None:
    apps = gitops.addon_applications(env, shipped[env])
    assert sorted(app.manifest["metadata"]["name"] for app in apps) == sorted(
        [*ADDONS, *LOCAL_ADDONS]
    )
    for app in apps:
        spec = app.manifest["spec"]
        if app.manifest["metadata"]["name"] in LOCAL_ADDONS:
            path = LOCAL_ADDONS[app.manifest["metadata"]["name"]].format(env=env)
            assert (spec["source"]["repoURL"], spec["source"]["path"]) == (
                gitops.GITOPS_REPO_URL,
                path,
            )
            continue
        repo, version = ADDONS[app.manifest["metadata"]["name"]]
        assert spec["project"] == "platform"
        assert (spec["source"]["repoURL"], spec["source"]["targetRevision"]) == (repo, version)
        assert "path" not in spec["source"]
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert "CreateNamespace=true" not in spec["syncPolicy"]["syncOptions"]
    project = item(shipped[env], "AppProject", "platform").manifest["spec"]
    assert sorted(project["sourceRepos"]) == sorted(
        [gitops.GITOPS_REPO_URL, *(repo for repo, _ in ADDONS.values())]
    )
    assert {d["namespace"] for d in project["destinations"]} == {
        "kube-system",
        "csi-proxmox",
        "monitoring",
        # kube-prometheus-stack's node-exporter (`prometheus-node-exporter.namespaceOverride`)
        "node-exporter",
        "velero",
        "etcd-backup",
    }


@pytest.mark.parametrize("env", ENVS)
def test_the_platform_project_whitelists_exactly_what_the_charts_render(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    used = {
        (obj.manifest["apiVersion"].rpartition("/")[0], obj.manifest["kind"])
        for addon in ADDONS
        for obj in rendered[chart_key(addon)]
    }
    used |= {
        (obj.manifest["apiVersion"].rpartition("/")[0], obj.manifest["kind"])
        for path in LOCAL_ADDONS.values()
        for obj in rendered[path.format(env=env)]
    }
    # The CRDs of a chart's crds/ folder are applied, though not rendered by the check.
    used.add(("apiextensions.k8s.io", "CustomResourceDefinition"))
    project = item(rendered, "AppProject", "platform").manifest["spec"]
    listed = [
        (rule["group"], rule["kind"])
        for name in ("clusterResourceWhitelist", "namespaceResourceWhitelist")
        for rule in project[name]
    ]
    assert len(listed) == len(set(listed))
    assert set(listed) == used
    assert gitops.addon_problems(env, rendered) == []


@pytest.mark.parametrize("env", ENVS)
def test_chart_objects_are_placed_as_argo_cd_applies_them(
    env: str, shipped: dict[str, Rendered]
) -> None:
    home = {
        "proxmox-csi-plugin": "csi-proxmox",
        "kube-prometheus-stack": "monitoring",
        "velero": "velero",
    }
    for addon in ADDONS:
        for obj in shipped[env][chart_key(addon)]:
            namespace = obj.manifest["metadata"].get("namespace")
            if obj.manifest["kind"] in gitops.CLUSTER_SCOPED_KINDS:
                assert namespace is None, obj.manifest["kind"]
            elif obj.manifest["kind"] == "Service" and obj.origin.split("/")[-2] in (
                "kube-controller-manager",
                "kube-scheduler",
                "core-dns",
            ):
                # The control plane's and CoreDNS's Services (docs/monitoring.md); no Endpoints:
                # Argo CD excludes the kind (exclusions.py).
                assert namespace == "kube-system"
            elif "/charts/prometheus-node-exporter/" in obj.origin:
                # node-exporter alone in its privileged namespace (`namespaceOverride`).
                assert namespace == "node-exporter"
            else:
                assert namespace == home.get(addon, "kube-system")
            # A subchart's templates are below its parent's (charts/<subchart>/templates/).
            assert obj.origin.startswith(f"upstream/charts/{addon}/"), obj.origin
            assert "/templates/" in obj.origin
            assert (gitops.REPO_ROOT / obj.origin).is_file()


@pytest.mark.parametrize("env", ENVS)
def test_metrics_server_verifies_the_kubelets(env: str, shipped: dict[str, Rendered]) -> None:
    deployment = item(shipped[env], "Deployment", "metrics-server").manifest
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--kubelet-insecure-tls" not in container["args"]
    assert "--kubelet-preferred-address-types=InternalIP" in container["args"]
    assert set(container["resources"]) == {"requests", "limits"}
    replicas = deployment["spec"]["replicas"]
    budgets = [
        i
        for i in shipped[env][chart_key("metrics-server")]
        if i.manifest["kind"] == "PodDisruptionBudget"
    ]
    assert replicas == (1 if env == "dev" else 2)
    assert len(budgets) == (0 if env == "dev" else 1)


@pytest.mark.parametrize("env", ENVS)
def test_the_csi_plugin_uses_the_programs_secret_and_one_default_class(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    controller = item(rendered, "Deployment", "proxmox-csi-plugin-controller").manifest
    volumes = {v["name"]: v for v in controller["spec"]["template"]["spec"]["volumes"]}
    assert volumes["cloud-config"]["secret"]["secretName"] == "proxmox-csi-plugin"
    assert volumes["cloud-config"]["secret"]["items"][0]["key"] == "config.yaml"
    kinds = {i.manifest["kind"] for i in rendered[chart_key("proxmox-csi-plugin")]}
    assert not kinds & {"Namespace", "Secret"}  # both are the program's
    node = item(rendered, "DaemonSet", "proxmox-csi-plugin-node").manifest
    assert "nodeSelector" not in node["spec"]["template"]["spec"]  # no Talos CCM label needed
    classes = [
        i.manifest
        for items in rendered.values()
        for i in items
        if i.manifest["kind"] == "StorageClass"
    ]
    defaults = [
        c
        for c in classes
        if c["metadata"]["annotations"].get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert len(defaults) == 1
    assert {c["volumeBindingMode"] for c in classes} == {"WaitForFirstConsumer"}


# --- Values and charts -------------------------------------------------------------------------


def test_a_chart_version_that_is_not_vendored_is_named(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "staging")
    app = item(rendered, "Application", "metrics-server")
    app.manifest["spec"]["source"]["targetRevision"] = "3.13.2"
    assert messages(gitops.chart_problems(rendered, K8S)) == [
        "gitops/platform/addons/metrics-server/application.yaml: Application "
        "argocd/metrics-server: spec.source.targetRevision: asks for chart metrics-server "
        "3.13.2, but upstream/charts/metrics-server is 3.13.1; vendor it (upstream/refresh.py, "
        "docs/platform.md) or pin the vendored version"
    ]


def test_an_unknown_value_key_is_named_with_its_values_path(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "prod")
    values(rendered, "metrics-server")["podDisruptionBudget"]["minAvailible"] = 1
    values(rendered, "proxmox-csi-plugin")["replicaCont"] = 2
    assert messages(gitops.chart_problems(rendered, K8S)) == [
        "gitops/platform/addons/metrics-server/application.yaml: Application "
        "argocd/metrics-server: spec.source.helm.valuesObject.podDisruptionBudget.minAvailible: "
        "not a value of the metrics-server chart 3.13.1 and no template reads it; Helm would "
        "ignore it (set in "
        "gitops/platform/addons/metrics-server/application.yaml or a patch of "
        "gitops/platform/envs/prod)",
        "gitops/platform/addons/proxmox-csi-plugin/application.yaml: Application "
        "argocd/proxmox-csi-plugin: spec.source.helm.valuesObject.replicaCont: not a value of "
        "the proxmox-csi-plugin chart 0.5.9 and no template reads it; Helm would ignore it (set "
        "in gitops/platform/addons/proxmox-csi-plugin/application.yaml or a patch of "
        "gitops/platform/envs/prod)",
    ]


def test_a_chart_that_fails_to_render_is_a_problem(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    values(rendered, "proxmox-csi-plugin")["storageClass"][0].pop("storage")
    (problem,) = gitops.chart_problems(rendered, K8S)
    assert problem.field == "spec.source.helm.valuesObject"
    assert "Proxmox Storage name must be provided" in problem.message


def test_value_files_and_parameters_are_not_followed_silently(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "dev")
    helm = item(rendered, "Application", "metrics-server").manifest["spec"]["source"]["helm"]
    helm["parameters"] = [{"name": "replicas", "value": "3"}]
    (problem,) = gitops.chart_problems(rendered, K8S)
    assert (problem.field, problem.message) == (
        "spec.source.helm.parameters",
        "not followed by the offline check: give the values in helm.valuesObject",
    )


def test_the_objects_of_a_chart_are_validated_strictly(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    deployment = item(rendered, "Deployment", "metrics-server")
    deployment.manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "x"
    problems = gitops.validate_manifest(deployment.manifest, K8S, deployment.origin)
    assert messages(problems) == [
        "upstream/charts/metrics-server/templates/deployment.yaml: Deployment "
        "kube-system/metrics-server: spec.template.spec.containers[0].imagePullPolicyy: unknown "
        "field 'imagePullPolicyy'; did you mean 'imagePullPolicy'?"
    ]


# --- The project -------------------------------------------------------------------------------


def _whitelist(rendered: Rendered, name: str) -> list[dict[str, str]]:
    return item(rendered, "AppProject", "platform").manifest["spec"][name]


def test_a_kind_the_project_does_not_whitelist_is_refused(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "prod")
    namespaced = _whitelist(rendered, "namespaceResourceWhitelist")
    namespaced.remove({"group": "apps", "kind": "DaemonSet"})
    cluster = _whitelist(rendered, "clusterResourceWhitelist")
    cluster.remove({"group": "storage.k8s.io", "kind": "StorageClass"})
    assert messages(gitops.addon_problems("prod", rendered)) == [
        "upstream/charts/kube-prometheus-stack/charts/prometheus-node-exporter/templates/"
        "daemonset.yaml: DaemonSet node-exporter/node-exporter: kind: kind not in the project's "
        "namespaceResourceWhitelist",
        "upstream/charts/proxmox-csi-plugin/templates/storageclass.yaml: StorageClass "
        "proxmox-talos-prod-vm: kind: cluster-scoped kind not whitelisted",
        "upstream/charts/proxmox-csi-plugin/templates/node-deployment.yaml: DaemonSet "
        "csi-proxmox/proxmox-csi-plugin-node: kind: kind not in the project's "
        "namespaceResourceWhitelist",
        "upstream/charts/velero/templates/node-agent-daemonset.yaml: DaemonSet "
        "velero/node-agent: kind: kind not in the project's namespaceResourceWhitelist",
    ]


def test_a_kind_no_addon_renders_is_too_wide(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")  # dev runs one metrics-server: no PodDisruptionBudget
    _whitelist(rendered, "namespaceResourceWhitelist").append(
        {"group": "policy", "kind": "PodDisruptionBudget"}
    )
    _whitelist(rendered, "clusterResourceWhitelist").append({"group": "*", "kind": "*"})
    project = item(rendered, "AppProject", "platform").manifest["spec"]
    project["sourceRepos"].append("https://charts.example.com")
    project["destinations"].append({"server": "https://kubernetes.default.svc", "namespace": "x"})
    # Each appended entry is the last of its list.
    last = {key: len(value) - 1 for key, value in project.items() if isinstance(value, list)}
    assert messages(gitops.addon_problems("dev", rendered)) == [
        "gitops/platform/envs/dev/appproject.yaml: AppProject argocd/platform: "
        f"spec.sourceRepos[{last['sourceRepos']}]: 'https://charts.example.com': no add-on "
        "installs a chart from it",
        "gitops/platform/envs/dev/appproject.yaml: AppProject argocd/platform: "
        f"spec.destinations[{last['destinations']}]: 'x': no add-on deploys there",
        "gitops/platform/envs/dev/appproject.yaml: AppProject argocd/platform: "
        f"spec.clusterResourceWhitelist[{last['clusterResourceWhitelist']}]: */*: name one kind "
        "of this scope",
        "gitops/platform/envs/dev/appproject.yaml: AppProject argocd/platform: "
        f"spec.namespaceResourceWhitelist[{last['namespaceResourceWhitelist']}]: "
        "policy/PodDisruptionBudget: no add-on renders one; remove it (the project admits "
        "exactly what the rendered charts need)",
    ]


def test_an_addon_from_another_repository_or_in_another_project(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "dev")
    spec = item(rendered, "Application", "kubelet-csr-approver").manifest["spec"]
    spec["project"] = "dev"
    spec["source"]["repoURL"] = "https://charts.example.com"
    fields = [(p.object, p.field) for p in gitops.addon_problems("dev", rendered)]
    assert ("Application argocd/kubelet-csr-approver", "spec.project") in fields
    assert ("Application argocd/kubelet-csr-approver", "spec.source.repoURL") in fields


def test_the_platform_folder_holds_argo_cd_objects_only(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    stray = copy.deepcopy(item(rendered, "Deployment", "metrics-server"))
    rendered["gitops/platform/envs/dev"].append(stray)
    problems = gitops.environment_rules("dev", rendered)
    assert messages(problems) == [
        "upstream/charts/metrics-server/templates/deployment.yaml: Deployment "
        "kube-system/metrics-server: kind: not an Argo CD kind: project 'dev-root' refuses it",
        "upstream/charts/metrics-server/templates/deployment.yaml: Deployment "
        "kube-system/metrics-server: metadata.namespace: not 'argocd': project 'dev-root' "
        "refuses it",
    ]


# --- Against the stack -------------------------------------------------------------------------


def stack_of(env: str, **changes: Any) -> gitops.StackPlatform:
    stack = gitops.stack_platform(env)
    assert isinstance(stack, gitops.StackPlatform)
    return dataclasses.replace(stack, **changes)


@pytest.mark.parametrize("env", ENVS)
def test_the_shipped_addons_agree_with_their_stacks(env: str, shipped: dict[str, Rendered]) -> None:
    assert gitops.platform_problems(env, shipped[env], stack_of(env)) == []


def test_no_two_environments_provision_on_one_datastore(shipped: dict[str, Rendered]) -> None:
    """The plugin's token needs Datastore.Allocate on its classes' datastores, which reaches every
    volume there: each environment's classes are on its own stack's VM datastores only (issue 15;
    the tokens' side: tests/delivery/test_proxmox_access.py)."""
    storages = {
        env: {
            obj.manifest["parameters"]["storage"]
            for items in shipped[env].values()
            for obj in items
            if obj.manifest["kind"] == "StorageClass"
        }
        for env in ENVS
    }
    assert storages == {env: {f"talos-{env}-vm"} for env in ENVS}
    assert storages == {env: set(stack_of(env).datastores.values()) for env in ENVS}


def test_an_approver_regex_that_misses_a_node(shipped: dict[str, Rendered]) -> None:
    stack = stack_of("prod")
    extra = gitops.StackNode("prod-db-1", IPv4Address("203.0.113.31"), "pve1")
    stack = dataclasses.replace(stack, nodes=(*stack.nodes, extra))
    assert messages(gitops.platform_problems("prod", shipped["prod"], stack)) == [
        "gitops/platform/addons/kubelet-csr-approver/application.yaml: Application "
        "argocd/kubelet-csr-approver: spec.source.helm.valuesObject.providerRegex: "
        "'^prod-(cp|worker)-[0-9]+$' does not match node 'prod-db-1' of Pulumi.prod.yaml: its "
        "kubelet serving certificate would never be approved (values of gitops/platform/envs/prod)",
        # A new node needs its address in the approver's values too.
        "gitops/platform/addons/kubelet-csr-approver/application.yaml: Application "
        "argocd/kubelet-csr-approver: spec.source.helm.valuesObject.providerIpPrefixes: no "
        "prefix holds the address 203.0.113.31 of node 'prod-db-1' (Pulumi.prod.yaml): its "
        "kubelet serving certificate would be denied; add 203.0.113.31/32 to providerIpPrefixes "
        "in gitops/platform/envs/prod/kubelet-csr-approver.yaml (values of "
        "gitops/platform/envs/prod)",
    ]


def approver_with(rendered: Rendered, **variables: str) -> None:
    """Set environment variables of the rendered approver (as its values would)."""
    deployment = item(rendered, "Deployment", "kubelet-csr-approver").manifest
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    for variable in env:
        if variable["name"] in variables:
            variable["value"] = variables[variable["name"]]


@pytest.mark.parametrize("env", ENVS)
def test_the_approver_admits_exactly_the_node_addresses(
    env: str, shipped: dict[str, Rendered]
) -> None:
    deployment = item(shipped[env], "Deployment", "kubelet-csr-approver").manifest
    env_vars = {
        v["name"]: v["value"]
        for v in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    stack = stack_of(env)
    assert env_vars["PROVIDER_IP_PREFIXES"].split(",") == [f"{n.ip}/32" for n in stack.nodes]
    assert env_vars["BYPASS_DNS_RESOLUTION"] == "true"


def test_the_node_network_as_prefix_would_sign_the_vip(shipped: dict[str, Rendered]) -> None:
    """The tree's former value: the whole /24, with bypassDnsResolution."""
    rendered = tree_of(shipped, "prod")
    approver_with(rendered, PROVIDER_IP_PREFIXES="203.0.113.0/24")
    (problem,) = gitops.platform_problems("prod", rendered, stack_of("prod"))
    assert problem.field == "spec.source.helm.valuesObject.providerIpPrefixes"
    assert problem.message == (
        "203.0.113.0/24 holds the VIP 203.0.113.10, the gateway 203.0.113.1, the "
        "nameserver 203.0.113.2, 247 other addresses (203.0.113.0, ...), which no node of "
        "Pulumi.prod.yaml has: with bypassDnsResolution any kubelet could have a serving "
        "certificate for it signed by the cluster CA; list exactly the node addresses as /32 "
        "(203.0.113.11/32, 203.0.113.12/32, 203.0.113.13/32, 203.0.113.21/32, 203.0.113.22/32, "
        "203.0.113.23/32) (values of gitops/platform/envs/prod)"
    )


@pytest.mark.parametrize(
    ("prefixes", "named"),
    [
        (
            "192.0.2.11/32,192.0.2.21/32,192.0.2.10/32",
            "192.0.2.10/32 holds the VIP 192.0.2.10,",
        ),
        (
            "192.0.2.11/32,192.0.2.21/32,192.0.2.1/32",
            "192.0.2.1/32 holds the gateway 192.0.2.1,",
        ),
        ("192.0.2.11/32,192.0.2.21/32,192.0.2.99/32", "192.0.2.99/32 holds 192.0.2.99,"),
        ("192.0.2.11/32,192.0.2.20/31", "192.0.2.20/31 holds 192.0.2.20,"),
        ("192.0.2.11/32,192.0.2.21/32,2001:db8::/64", "2001:db8::/64 holds "),
    ],
)
def test_a_prefix_beyond_the_node_addresses_is_named(
    shipped: dict[str, Rendered], prefixes: str, named: str
) -> None:
    rendered = tree_of(shipped, "dev")
    approver_with(rendered, PROVIDER_IP_PREFIXES=prefixes)
    (problem,) = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert problem.message.startswith(named)
    assert (
        "list exactly the node addresses as /32 (192.0.2.11/32, 192.0.2.21/32)" in problem.message
    )


def test_a_prefix_must_parse_as_the_approver_parses_it(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    approver_with(rendered, PROVIDER_IP_PREFIXES="192.0.2.11,192.0.2.21/32")
    problems = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert [p.message.split(":")[0] for p in problems] == [
        "'192.0.2.11' is not an IP prefix (netip.ParsePrefix)",
        "no prefix holds the address 192.0.2.11 of node 'dev-cp-1' (Pulumi.dev.yaml)",
    ]


def test_approver_prefixes_that_miss_a_node_and_a_regex_that_is_not_anchored(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "dev")
    approver_with(rendered, PROVIDER_REGEX="dev-", PROVIDER_IP_PREFIXES="192.0.2.11/32")
    problems = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert [(p.field.rsplit(".", 1)[-1], p.message.split(":")[0]) for p in problems] == [
        ("providerRegex", "'dev-' is searched, not matched whole"),
        (
            "providerIpPrefixes",
            "no prefix holds the address 192.0.2.21 of node 'dev-worker-1' (Pulumi.dev.yaml)",
        ),
    ]


def test_a_datastore_that_is_not_on_the_stacks_hosts(shipped: dict[str, Rendered]) -> None:
    stack = stack_of("staging", datastores={"pve1": "ceph", "pve2": "ceph", "pve3": "ceph"})
    assert messages(gitops.platform_problems("staging", shipped["staging"], stack)) == [
        "gitops/platform/addons/proxmox-csi-plugin/application.yaml: Application "
        "argocd/proxmox-csi-plugin: spec.source.helm.valuesObject.storageClass[0].storage: "
        "'talos-staging-vm' is not the vm_datastore of any Proxmox host in Pulumi.staging.yaml "
        "(ceph): "
        "the plugin could not create a disk there"
    ]


def test_a_class_in_another_region_or_without_a_host(shipped: dict[str, Rendered]) -> None:
    stack = stack_of(
        "prod",
        region="lab",
        datastores={"pve1": "talos-prod-vm", "pve2": "talos-prod-vm", "pve3": "zfs"},
    )
    problems = gitops.platform_problems("prod", shipped["prod"], stack)
    assert [p.message for p in problems] == [
        "regions ['datacentre'], but the nodes' topology.kubernetes.io/region (and the plugin's "
        "region) is proxmox.region 'lab' of Pulumi.prod.yaml",
        "zone 'pve3': no Proxmox host of that name in Pulumi.prod.yaml has the datastore "
        "'talos-prod-vm'",
    ]
    stack = stack_of(
        "prod",
        datastores={
            "pve1": "talos-prod-vm",
            "pve2": "talos-prod-vm",
            "pve3": "talos-prod-vm",
            "pve4": "talos-prod-vm",
        },
    )
    nodes = (*stack.nodes, gitops.StackNode("prod-worker-4", IPv4Address("203.0.113.24"), "pve4"))
    problems = gitops.platform_problems(
        "prod", shipped["prod"], dataclasses.replace(stack, nodes=nodes)
    )
    problems = [p for p in problems if p.object == "Application argocd/proxmox-csi-plugin"]
    assert [p.message for p in problems] == [
        "leaves out host 'pve4', whose nodes (zone 'pve4') have 'talos-prod-vm' in "
        "Pulumi.prod.yaml: pods with such volumes could not run there"
    ]


def test_a_second_default_storage_class(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    second = copy.deepcopy(item(rendered, "StorageClass", "proxmox-talos-dev-vm"))
    second.manifest["metadata"]["name"] = "proxmox-fast"
    rendered[chart_key("proxmox-csi-plugin")].append(second)
    problems = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert messages(problems) == [
        "upstream/charts/proxmox-csi-plugin/templates/storageclass.yaml: StorageClass "
        f'{name}: metadata.annotations["storageclass.kubernetes.io/is-default-class"]: 2 '
        "default StorageClasses (proxmox-talos-dev-vm, proxmox-fast): a claim without a class gets "
        "whichever is newest; mark exactly one as the default"
        for name in ("proxmox-talos-dev-vm", "proxmox-fast")
    ]
    for obj in (
        item(rendered, "StorageClass", n) for n in ("proxmox-talos-dev-vm", "proxmox-fast")
    ):
        obj.manifest["metadata"]["annotations"] = {}
    (problem,) = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert problem.message.startswith(
        "no default StorageClass among proxmox-talos-dev-vm, proxmox-fast"
    )


def test_the_csi_plugin_follows_the_stacks_switch(shipped: dict[str, Rendered]) -> None:
    off = stack_of("dev", proxmox_csi=False)
    assert messages(gitops.platform_problems("dev", shipped["dev"], off)) == [
        "Pulumi.dev.yaml: stack: talos-platform:storage.proxmox_csi: is off, so the program "
        "creates no Secret proxmox-csi-plugin, but gitops/platform/envs/dev deploys "
        "proxmox-csi-plugin, whose controller could not start: remove it from "
        "gitops/platform/envs/dev, or turn the switch on (docs/platform.md)"
    ]
    rendered = tree_of(shipped, "dev")
    folder = rendered["gitops/platform/envs/dev"]
    folder.remove(item(rendered, "Application", "proxmox-csi-plugin"))
    assert messages(gitops.platform_problems("dev", rendered, stack_of("dev"))) == [
        "Pulumi.dev.yaml: stack: talos-platform:storage.proxmox_csi: is on (the program creates "
        "the namespace csi-proxmox and the Secret proxmox-csi-plugin for the plugin), but "
        "gitops/platform/envs/dev deploys no proxmox-csi-plugin: add it back, or turn the switch "
        "off (docs/platform.md)"
    ]
    assert gitops.platform_problems("dev", rendered, off) == []


def metrics_args(rendered: Rendered) -> list[str]:
    deployment = item(rendered, "Deployment", "metrics-server").manifest
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container["args"]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--kubelet-insecure-tls=true",
            "--kubelet-insecure-tls=true: metrics-server must verify the kubelets' serving "
            "certificates against the cluster CA (kubelet-csr-approver approves them)",
        ),
        ("--kubelet-insecure-tls", "--kubelet-insecure-tls: metrics-server must verify"),
        ("--kubelet-insecure-tls=T", "--kubelet-insecure-tls=T: metrics-server must verify"),
        (
            "--deprecated-kubelet-completely-insecure",
            "--deprecated-kubelet-completely-insecure: metrics-server must verify",
        ),
        (
            "--kubelet-preferred-address-types=Hostname",
            "--kubelet-preferred-address-types: InternalIP,Hostname: must be exactly InternalIP",
        ),
    ],
)
def test_metrics_server_flags_that_break_kubelet_tls_or_addressing(
    shipped: dict[str, Rendered], flag: str, message: str
) -> None:
    rendered = tree_of(shipped, "staging")
    metrics_args(rendered).append(flag)  # as the chart's `args` value would
    (problem,) = gitops.platform_problems("staging", rendered, stack_of("staging"))
    assert (problem.object, problem.field) == (
        "Application argocd/metrics-server",
        "spec.source.helm.valuesObject",
    )
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    "args",
    [
        ["--kubelet-insecure-tls=false"],
        ["--kubelet-insecure-tls=0"],
        ["--kubelet-preferred-address-types", "InternalIP"],  # the value after a space
    ],
)
def test_metrics_server_flags_that_keep_tls_and_internal_ip(
    shipped: dict[str, Rendered], args: list[str]
) -> None:
    rendered = tree_of(shipped, "dev")
    current = metrics_args(rendered)
    current[:] = [a for a in current if not a.startswith("--kubelet-preferred-address-types")]
    if args[0] != "--kubelet-preferred-address-types":
        current.append("--kubelet-preferred-address-types=InternalIP")
    current += args
    assert gitops.platform_problems("dev", rendered, stack_of("dev")) == []


def test_metrics_server_address_types_default_to_hostname_first(
    shipped: dict[str, Rendered],
) -> None:
    rendered = tree_of(shipped, "dev")
    current = metrics_args(rendered)
    current[:] = [a for a in current if not a.startswith("--kubelet-preferred-address-types")]
    (problem,) = gitops.platform_problems("dev", rendered, stack_of("dev"))
    assert problem.message.startswith(
        "--kubelet-preferred-address-types: unset, the default Hostname,InternalDNS,InternalIP,"
        "ExternalDNS,ExternalIP: must be exactly InternalIP; a node name (Hostname) seldom "
        "resolves in a homelab"
    )


def test_pflag_parsing() -> None:
    from offline.validators.gitops.platform import parse_flags

    booleans = frozenset({"insecure"})
    assert parse_flags(
        ["--a=1", "--a", "2", "--insecure", "x", "--b=", "-l", "k=v", "--", "--c=3"], booleans
    ) == {"a": ["1", "2"], "insecure": [None], "b": [""]}


def test_metrics_server_needs_the_approver(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "dev")
    rendered["gitops/platform/envs/dev"].remove(
        item(rendered, "Application", "kubelet-csr-approver")
    )
    problems = gitops.platform_problems("dev", rendered, stack_of("dev"))
    # kube-prometheus-stack verifies the kubelets too (tests/gitops/test_monitoring_stack.py).
    (problem,) = [p for p in problems if p.object == "Application argocd/metrics-server"]
    assert (problem.object, problem.field) == (
        "Application argocd/metrics-server",
        "spec.source.chart",
    )
    assert problem.message.startswith("needs kubelet-csr-approver beside it")


# --- End to end, from the files ----------------------------------------------------------------


def test_a_broken_patch_file_is_reported_by_validate_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, tree)
    patch = tree / "platform" / "envs" / "dev" / "kubelet-csr-approver.yaml"
    text = patch.read_text()
    assert "providerRegex: ^dev-(cp|worker)-[0-9]+$" in text
    text = text.replace("^dev-(cp|worker)-[0-9]+$", "^dev-cp-[0-9]+$")
    # The node network instead of the node addresses (what the tree used to say).
    assert "- 192.0.2.11/32  # dev-cp-1\n          - 192.0.2.21/32  # dev-worker-1\n" in text
    text = text.replace("- 192.0.2.11/32  # dev-cp-1", "- 192.0.2.0/24")
    patch.write_text(text.replace("          - 192.0.2.21/32  # dev-worker-1\n", ""))
    monkeypatch.setattr(gitops.tree, "GITOPS_DIR", tree)
    problems = gitops.validate_environment("dev", K8S)
    values = "spec.source.helm.valuesObject"
    assert [(p.object, p.field) for p in problems] == [
        ("Application argocd/kubelet-csr-approver", f"{values}.providerRegex"),
        ("Application argocd/kubelet-csr-approver", f"{values}.providerIpPrefixes"),
    ]
    assert "does not match node 'dev-worker-1' of Pulumi.dev.yaml" in problems[0].message
    assert problems[1].message.startswith(
        "192.0.2.0/24 holds the VIP 192.0.2.10, the gateway 192.0.2.1, 252 other addresses"
    )


def test_the_csi_namespace_and_secret_are_the_ones_the_program_creates() -> None:
    from components.storage import proxmox_csi
    from offline.validators.gitops import platform

    assert (platform.CSI_NAMESPACE, platform.CSI_SECRET, platform.CSI_SECRET_KEY) == (
        proxmox_csi.NAMESPACE,
        proxmox_csi.CONFIG_SECRET,
        proxmox_csi.CONFIG_KEY,
    )


def test_the_stack_facts_are_read_as_the_plan_reads_the_stack() -> None:
    values, _ = stack_values("staging")
    facts = gitops.platform_from_values(values, "Pulumi.staging.yaml")
    assert isinstance(facts, gitops.StackPlatform)
    assert (facts.region, facts.proxmox_csi, str(facts.network)) == (
        "office",
        True,
        "198.51.100.0/24",
    )
    assert facts.datastores == {h: "talos-staging-vm" for h in ("pve1", "pve2", "pve3")}
    off = gitops.platform_from_values(
        with_key(values, "storage", {"proxmox_csi": False}), "Pulumi.staging.yaml"
    )
    assert isinstance(off, gitops.StackPlatform) and off.proxmox_csi is False
    broken = gitops.platform_from_values(with_key(values, "nodes", [{"name": 1}]), "x.yaml")
    assert isinstance(broken, gitops.Problem) and broken.message.startswith("not a valid stack")


def test_a_cross_wired_platform_application(shipped: dict[str, Rendered]) -> None:
    rendered = tree_of(shipped, "prod")
    spec = item(rendered, "Application", "platform").manifest["spec"]
    spec["project"] = "prod"
    spec["source"]["path"] = "gitops/platform/envs/dev"
    problems = [p for p in gitops.environment_rules("prod", rendered) if "platform" in p.object]
    assert [(p.field, p.message) for p in problems] == [
        ("spec.project", "must be 'prod-root', found 'prod'"),
        ("spec.source.path", "must be gitops/platform/envs/prod, found 'gitops/platform/envs/dev'"),
    ]
