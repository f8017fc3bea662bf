"""The resource graph of each shipped stack: what exists, under which component, with which
provider, waiting for what. Assertions run on what the recording monitor saw after the whole
program finished, never inside an `apply`."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from offline.run import ProgramRun
from tests.conftest import STACKS, by_type, recorded, stack_values, structured

COMMAND = "command:local:Command"
VM = "proxmoxve:index/vmLegacy:VmLegacy"
IMAGE_FILE = "proxmoxve:download/file:File"
APPLY = "talos:machine/configurationApply:ConfigurationApply"
SECRETS = "talos:machine/secrets:Secrets"
BOOTSTRAP = "talos:machine/bootstrap:Bootstrap"
KUBECONFIG = "talos:cluster/kubeconfig:Kubeconfig"
K8S_PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"
TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"


def only(run: ProgramRun, token: str):
    found = by_type(run, token)
    assert len(found) == 1, f"expected one {token}, found {len(found)}"
    return found[0]


def named(run: ProgramRun, token: str, name: str):
    found = [r for r in by_type(run, token) if r.name == name]
    assert len(found) == 1, f"expected one {token} named {name}, found {len(found)}"
    return found[0]


def main_provider(run: ProgramRun):
    """The provider every in-cluster resource after the health gate uses."""
    return named(run, K8S_PROVIDER, "kubernetes-provider")


def transitive_dependencies(run: ProgramRun, registration) -> set[str]:
    """Everything `registration` waits for, directly or through what it waits for (its provider
    included: a resource is created after its provider)."""
    by_urn = {r.urn: r for r in run.registrations}
    seen: set[str] = set()
    todo = [registration]
    while todo:
        current = todo.pop()
        edges = set(waits_for(current))
        if current.provider:
            edges.add(current.provider.rsplit("::", 1)[0])
        for urn in edges - seen:
            seen.add(urn)
            if urn in by_urn:
                todo.append(by_urn[urn])
    return seen


def urn_of(run: ProgramRun, token: str, name: str) -> str:
    return next(r.urn for r in run.registrations if r.type == token and r.name == name)


def parent_type(run: ProgramRun, registration) -> str:
    return next(r.type for r in run.registrations if r.urn == registration.parent)


def waits_for(registration) -> set[str]:
    deps = set(registration.dependencies)
    for urns in registration.property_dependencies.values():
        deps.update(urns)
    return deps


@pytest.mark.parametrize("stack", STACKS)
def test_one_of_each_per_node_hostname_and_cluster(stack: str) -> None:
    run = recorded(stack)
    values, _ = stack_values(stack)
    nodes = structured(values, "nodes")
    # A hostname the edge stack publishes (`edge: true`) has its route, not a DNS record.
    hostnames = [
        h["hostname"] for h in structured(values, "cloudflare")["hostnames"] if not h.get("edge")
    ]
    counts = Counter(r.type for r in run.registrations)
    assert sorted(r.inputs["name"] for r in by_type(run, VM)) == sorted(n["name"] for n in nodes)
    assert sorted(r.inputs["node"] for r in by_type(run, APPLY)) == sorted(n["ip"] for n in nodes)
    for token in (SECRETS, BOOTSTRAP, KUBECONFIG, TUNNEL, TUNNEL_CONFIG):
        assert counts[token] == 1, token
    # Cilium's provider and release, and the cluster's provider and Argo CD's release.
    assert sorted(r.name for r in by_type(run, K8S_PROVIDER)) == [
        "cilium-provider",
        "kubernetes-provider",
    ]
    assert sorted(r.name for r in by_type(run, RELEASE)) == ["argocd", "cilium"]
    assert sorted(r.inputs["name"] for r in by_type(run, DNS)) == sorted(hostnames)
    assert counts[IMAGE_FILE] == len({n["host"] for n in nodes})


@pytest.mark.parametrize("stack", STACKS)
def test_no_duplicate_urns(stack: str) -> None:
    urns = [r.urn for r in recorded(stack).registrations]
    assert len(urns) == len(set(urns))


def test_children_are_parented_to_their_component() -> None:
    run = recorded("prod")
    expected = {
        VM: "talos-platform:proxmox:NodeVm",
        IMAGE_FILE: "talos-platform:proxmox:TalosImage",
        "talos:imageFactory/schematic:Schematic": "talos-platform:proxmox:TalosImage",
        APPLY: "talos-platform:talos:Cluster",
        SECRETS: "talos-platform:talos:Cluster",
        BOOTSTRAP: "talos-platform:talos:Cluster",
        KUBECONFIG: "talos-platform:talos:Cluster",
        APPLICATION: "talos-platform:argocd:ArgoCd",
        TUNNEL: "talos-platform:cloudflare:Tunnel",
        TUNNEL_CONFIG: "talos-platform:cloudflare:Tunnel",
        DNS: "talos-platform:cloudflare:Tunnel",
        "kubernetes:apps/v1:Deployment": "talos-platform:cloudflare:Cloudflared",
    }
    for r in run.registrations:
        if r.type in expected:
            assert parent_type(run, r) == expected[r.type], r.urn
    for token, name, parent in (
        (K8S_PROVIDER, "cilium-provider", "talos-platform:network:Cilium"),
        (RELEASE, "cilium", "talos-platform:network:Cilium"),
        (K8S_PROVIDER, "kubernetes-provider", "talos-platform:kubernetes:Cluster"),
        (RELEASE, "argocd", "talos-platform:argocd:ArgoCd"),
    ):
        assert parent_type(run, named(run, token, name)) == parent
    # The network is part of the Talos cluster: it comes up between its two gates.
    cilium = next(r for r in run.registrations if r.type == "talos-platform:network:Cilium")
    assert parent_type(run, cilium) == "talos-platform:talos:Cluster"
    # Only the explicit providers and the components sit at the stack's root.
    for r in run.registrations:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert "$" in r.urn, f"{r.urn} is not inside a component"


def test_every_resource_uses_an_explicit_provider() -> None:
    run = recorded("prod")
    providers: dict[str, set[str]] = {}
    for r in run.registrations:
        if r.type.startswith("pulumi:providers"):
            providers.setdefault(r.type, set()).add(r.urn)
    for r in run.registrations:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        package = r.type.split(":", 1)[0]
        if package in ("proxmoxve", "cloudflare", "kubernetes"):
            assert r.provider.rsplit("::", 1)[0] in providers[f"pulumi:providers:{package}"], r.urn


def test_each_configuration_apply_waits_for_its_own_vm_only() -> None:
    run = recorded("prod")
    vms = {r.inputs["name"]: r.urn for r in by_type(run, VM)}
    for apply in by_type(run, APPLY):
        node = apply.name.removeprefix("talos-")
        deps = waits_for(apply) & set(vms.values())
        assert deps == {vms[node]}, f"{apply.name} waits for {deps}"


def test_bootstrap_runs_on_the_first_control_plane_after_its_apply() -> None:
    run = recorded("prod")
    bootstrap = only(run, BOOTSTRAP)
    first_cp = structured(stack_values("prod")[0], "nodes")[0]
    assert bootstrap.inputs["node"] == first_cp["ip"]
    assert urn_of(run, APPLY, f"talos-{first_cp['name']}") in waits_for(bootstrap)


def test_cluster_objects_wait_behind_the_health_gate() -> None:
    run = recorded("prod")
    provider = main_provider(run)
    health = named(run, COMMAND, "talos-health")
    api = named(run, COMMAND, "talos-api")
    cilium = named(run, RELEASE, "cilium")
    assert waits_for(provider) == {health.urn, only(run, KUBECONFIG).urn}
    # The API gate after every node is configured, Cilium after the API gate, the health gate
    # (nodes Ready) after Cilium.
    assert only(run, BOOTSTRAP).urn in waits_for(api)
    assert {a.urn for a in by_type(run, APPLY)} <= waits_for(api)
    cilium_provider = named(run, K8S_PROVIDER, "cilium-provider")
    assert waits_for(cilium_provider) == {api.urn, only(run, KUBECONFIG).urn}
    assert cilium.provider.startswith(cilium_provider.urn + "::")
    assert cilium.urn in health.dependencies
    nodes = structured(stack_values("prod")[0], "nodes")
    env = health.inputs["environment"]
    assert sorted(env["ENDPOINTS"].split(",") + env["WORKERS"].split(",")) == sorted(
        n["ip"] for n in nodes
    )
    assert "--control-plane-nodes" in health.inputs["create"]  # a new cluster: the config's
    assert "--control-plane-nodes" not in health.inputs["update"]  # after: what it discovers
    steps = {r.urn for r in by_type(run, COMMAND) if r.name.startswith("upgrade-")}
    assert steps and steps <= waits_for(api)  # nothing in the cluster changes mid-upgrade
    release = named(run, RELEASE, "argocd")
    assert release.provider.startswith(provider.urn + "::")


@pytest.mark.parametrize("stack", STACKS)
def test_argocd_cannot_be_created_before_the_network_is_up(stack: str) -> None:
    """Every in-cluster resource of the main provider waits, through it, for the health gate,
    which waits for the Cilium release: with no CNI, no pod of Argo CD could start."""
    run = recorded(stack)
    cilium = named(run, RELEASE, "cilium")
    health = named(run, COMMAND, "talos-health")
    argocd = named(run, RELEASE, "argocd")
    assert {cilium.urn, health.urn} <= transitive_dependencies(run, argocd)
    main = main_provider(run).urn
    in_cluster = [r for r in run.registrations if r.provider.rsplit("::", 1)[0] == main]
    assert len(in_cluster) > 3
    for r in in_cluster:
        assert cilium.urn in transitive_dependencies(run, r), r.urn
    # ... and Cilium itself waits for nothing in the cluster.
    assert argocd.urn not in transitive_dependencies(run, cilium)


def test_a_preview_asks_no_node_anything() -> None:
    """Invokes run at every preview: none may need a node up (the health data source fails when
    any node is down). The health gate is a command, which a preview does not run. The one
    Cloudflare listing (the backup token's permission groups) asks the Cloudflare API only."""
    run = recorded("prod")
    assert sorted({i.token for i in run.invokes}) == [
        "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList",
        "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken",
        "talos:client/getConfiguration:getConfiguration",
        "talos:imageFactory/getUrls:getUrls",
        "talos:machine/getConfiguration:getConfiguration",
    ]


def test_kubernetes_provider_has_a_stable_cluster_identifier() -> None:
    for provider in by_type(recorded("prod"), K8S_PROVIDER):
        assert provider.inputs["clusterIdentifier"] == "talos-platform-prod"
        assert provider.inputs["kubeconfig"] == "[secret]"


def test_talos_invokes_receive_camel_case_secrets() -> None:
    run = recorded("dev")
    calls = [i for i in run.invokes if i.token == "talos:machine/getConfiguration:getConfiguration"]
    assert len(calls) == len(structured(stack_values("dev")[0], "nodes"))
    for call in calls:
        secrets = call.raw_args["machineSecrets"]
        assert set(secrets) == {"certs", "cluster", "secrets", "trustdinfo"}
        assert "k8sAggregator" in secrets["certs"] and "k8sServiceaccount" in secrets["certs"]
        assert "bootstrapToken" in secrets["secrets"]
        assert "secretboxEncryptionSecret" in secrets["secrets"]
        assert not any("_" in k for k in secrets["certs"]) and not any("_" in k for k in secrets)
        assert call.args["machineSecrets"] == "[secret]"
        assert call.args["clusterEndpoint"] == "https://192.0.2.10:6443"
    for token in ("talos:client/getConfiguration:getConfiguration",):
        call = next(i for i in run.invokes if i.token == token)
        assert set(call.raw_args["clientConfiguration"]) == {
            "caCertificate",
            "clientCertificate",
            "clientKey",
        }


def test_vm_inputs() -> None:
    run = recorded("prod")
    values = stack_values("prod")[0]
    nodes = {n["name"]: n for n in structured(values, "nodes")}
    for vm in by_type(run, VM):
        node = nodes[vm.inputs["name"]]
        assert vm.inputs["nodeName"] == node["host"]
        assert vm.inputs["vmId"] == node["vm_id"]
        assert vm.inputs["agent"]["enabled"] is True
        assert vm.inputs["cpu"]["cores"] == node["cores"]
        assert vm.inputs["memory"]["dedicated"] == node["memory_mb"]
        assert vm.inputs["disks"][0]["size"] == node["disk_gb"]
        boot = vm.inputs["disks"][0]
        # Through the API (import_from), not over SSH (file_id, which also replaces the VM).
        assert "fileId" not in boot
        assert boot["importFrom"] == (
            f"talos-prod-images:import/{image_name('prod', node['host'])}"
        )
        assert boot["fileFormat"] == "raw"
        # Static addresses: never wait for the agent to report IPs (15 min per VM).
        assert vm.inputs["agent"]["waitForIp"] == {"disabled": True}
        # An empty drive on ide0: q35 cannot start with bpg's default physical drive on ide3.
        assert vm.inputs["cdrom"] == {"fileId": "none", "interface": "ide0"}
        assert vm.inputs["initialization"]["interface"] == "ide2"
        ip_config = vm.inputs["initialization"]["ipConfigs"][0]["ipv4"]
        assert ip_config["address"] == f"{node['ip']}/24"
        assert vm.inputs["networkDevices"][0]["vlanId"] == 30
        # In the stack's pool, the only place its token has VM rights (tools/proxmox_access.py).
        assert vm.inputs["poolId"] == "talos-prod"
        assert vm.protect is True
        assert {"cdrom", "disks[*].speed"} <= set(vm.ignore_changes)


def test_only_prod_protects_vms_and_talos_secrets() -> None:
    for stack, expected in (("dev", False), ("staging", False), ("prod", True)):
        run = recorded(stack)
        assert {vm.protect for vm in by_type(run, VM)} == {expected}
        assert only(run, SECRETS).protect is expected


def image_name(stack: str, host: str) -> str:
    schematic = only(recorded(stack), "talos:imageFactory/schematic:Schematic")
    return f"{stack}-{host}-talos-v1.13.9-{schematic_id(schematic)[:12]}-nocloud-amd64.qcow2"


def schematic_id(schematic) -> str:
    return hashlib.sha256(schematic.inputs["schematic"].encode()).hexdigest()


def test_image_schematic_carries_the_guest_agent() -> None:
    run = recorded("dev")
    schematic = only(run, "talos:imageFactory/schematic:Schematic")
    assert "siderolabs/qemu-guest-agent" in schematic.inputs["schematic"]
    image = only(run, IMAGE_FILE)
    # The factory's nocloud disk as qcow2, which `import` content takes without decompression.
    assert image.inputs["url"] == (
        f"https://factory.talos.dev/image/{schematic_id(schematic)}/v1.13.9/nocloud-amd64.qcow2"
    )
    assert image.inputs["contentType"] == "import"
    assert "decompressionAlgorithm" not in image.inputs
    assert image.inputs["nodeName"] == "pve1"


@pytest.mark.parametrize("stack", STACKS)
def test_image_file_names_carry_the_cluster_name(stack: str) -> None:
    """Stacks that share a Proxmox cluster never download onto each other's image file."""
    for image in by_type(recorded(stack), IMAGE_FILE):
        assert image.inputs["fileName"] == image_name(stack, image.inputs["nodeName"])
        assert image.inputs["fileName"].startswith(f"{stack}-")


def test_argocd_release_is_pinned_atomic_and_roots_the_stack_path() -> None:
    for stack in STACKS:
        run = recorded(stack)
        release = named(run, RELEASE, "argocd")
        assert release.inputs["chart"] == "argo-cd"
        assert release.inputs["version"] == "10.1.1"
        assert release.inputs["atomic"] is True
        assert release.inputs["namespace"] == "argocd"
        assert release.inputs["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
        root = only(run, APPLICATION)
        source = root.inputs["spec"]["source"]
        assert source["path"] == f"gitops/envs/{stack}"
        assert root.inputs["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        # Retries forever: a wave not healthy yet must not leave a revision unsynced for good.
        assert root.inputs["spec"]["syncPolicy"]["retry"]["limit"] == -1
        assert release.urn in waits_for(root)


def test_tunnel_routes_every_hostname_and_ends_with_the_catch_all() -> None:
    run = recorded("prod")
    values = stack_values("prod")[0]
    hostnames = structured(values, "cloudflare")["hostnames"]
    config = only(run, TUNNEL_CONFIG)
    rules = config.inputs["config"]["ingresses"]
    assert [r.get("hostname") for r in rules[:-1]] == [h["hostname"] for h in hostnames]
    assert rules[-1] == {"service": "http_status:404"}
    tunnel = only(run, TUNNEL)
    assert tunnel.inputs["configSrc"] == "cloudflare"
    assert tunnel.inputs["tunnelSecret"] == "[secret]"
    for record in by_type(run, DNS):
        assert record.inputs["type"] == "CNAME"
        assert record.inputs["proxied"] is True
        assert record.inputs["content"].endswith(".cfargotunnel.com")
        assert "talos-platform/prod" in record.inputs["comment"]


def test_cloudflared_runs_two_replicas_with_the_token_from_a_secret() -> None:
    run = recorded("prod")
    deployment = only(run, "kubernetes:apps/v1:Deployment")
    spec = deployment.inputs["spec"]
    assert spec["replicas"] >= 2
    env = spec["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {
            "name": "TUNNEL_TOKEN",
            "valueFrom": {"secretKeyRef": {"key": "token", "name": "cloudflared-token"}},
        }
    ]
    secret = named(run, "kubernetes:core/v1:Secret", "cloudflared-token")
    assert secret.inputs["stringData"] == "[secret]" or secret.inputs["stringData"]["token"] == (
        "[secret]"
    )
    assert secret.urn in waits_for(deployment)


def test_secrets_stay_secret_end_to_end() -> None:
    run = recorded("prod")
    assert {"kubeconfig", "talosconfig"} <= set(run.secret_outputs)
    assert run.outputs["kubeconfig"] == "[secret]"
    for apply in by_type(run, APPLY):
        assert "machineConfigurationInput" in apply.secret_inputs
    providers = {r.type: r for r in run.registrations if r.type.startswith("pulumi:providers:")}
    assert providers["pulumi:providers:proxmoxve"].inputs["apiToken"] == "[secret]"
    assert providers["pulumi:providers:cloudflare"].inputs["apiToken"] == "[secret]"
    assert {"machineSecrets", "clientConfiguration"} <= set(
        only(run, SECRETS).additional_secret_outputs
    )
    assert "kubeconfigRaw" in only(run, KUBECONFIG).additional_secret_outputs


def test_data_disk_becomes_a_second_disk_and_a_talos_user_volume() -> None:
    run = recorded("prod")
    for vm in by_type(run, VM):
        disks = vm.inputs["disks"]
        if vm.inputs["name"].startswith("prod-worker-"):
            assert [d["interface"] for d in disks] == ["scsi0", "scsi1"]
            assert disks[1]["size"] == 256
        else:
            assert [d["interface"] for d in disks] == ["scsi0"]
    for call in run.invokes:
        if call.token != "talos:machine/getConfiguration:getConfiguration":
            continue
        has_volume = any("kind: UserVolumeConfig" in p for p in call.args["configPatches"])
        assert has_volume == (call.args["machineType"] == "worker")
