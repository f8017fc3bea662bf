"""Each policy of the pack over the real recorded plans (passing) and over changed copies of them
(failing): what a user sees is which policy fails, on which resource, saying what."""

from __future__ import annotations

import pytest

from components.proxmox.vm import vm_description
from tests.conftest import STACKS

from .graphs import (
    ACCESS_APP,
    APPLICATION,
    DEPLOYMENT,
    DNS_RECORD,
    SECRET,
    SERVICE,
    TALOS_SECRETS,
    TUNNEL_CONFIG,
    VM,
    add_access_application,
    of_type,
    one,
    recorded_plan,
    violations,
    without,
)

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"

# --- protected-in-prod ---------------------------------------------------------------------------


def test_prod_vms_and_talos_secrets_are_protected() -> None:
    doc = recorded_plan("prod")
    assert all(r["protect"] for r in of_type(doc, VM) + of_type(doc, TALOS_SECRETS))
    assert violations(doc, "protected-in-prod") == []


def test_an_unprotected_vm_or_talos_secrets_in_prod_is_mandatory() -> None:
    doc = recorded_plan("prod")
    vm, secrets = one(doc, VM, "prod-cp-2"), one(doc, TALOS_SECRETS)
    vm["protect"] = secrets["protect"] = False
    found = violations(doc, "protected-in-prod")
    assert {v.urn for v in found} == {vm["urn"], secrets["urn"]}
    assert all(v.mandatory for v in found)
    assert any("VmLegacy 'prod-cp-2' is not protected" in v.message for v in found)


def test_protection_is_only_required_in_prod() -> None:
    doc = recorded_plan("dev")
    assert not any(r["protect"] for r in of_type(doc, VM))
    assert violations(doc, "protected-in-prod") == []
    # The same graph declared as prod fails: the environment decides, not the stack name.
    assert len(violations(doc, "protected-in-prod", environment="prod")) == len(
        of_type(doc, VM) + of_type(doc, TALOS_SECRETS) + of_type(doc, R2_BUCKET)
    )


# --- control-plane-quorum ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_have_three_control_planes(stack: str) -> None:
    assert violations(recorded_plan(stack), "control-plane-quorum") == []


def test_two_control_planes_in_staging_fail() -> None:
    doc = recorded_plan("staging")
    one(doc, VM, "staging-cp-3")["inputs"]["description"] = vm_description("worker", "staging")
    [violation] = violations(doc, "control-plane-quorum")
    assert violation.mandatory and violation.urn == ""
    assert "staging has 2 control-plane VM(s); it needs at least 3" in violation.message


def test_a_talos_vm_with_an_unknown_role_is_reported() -> None:
    doc = recorded_plan("prod")
    vm = one(doc, VM, "prod-worker-1")
    vm["inputs"]["description"] = vm_description("etcd", "prod")
    [violation] = violations(doc, "control-plane-quorum")
    assert violation.urn == vm["urn"]
    assert "'prod-worker-1' has the role 'etcd' in its description" in violation.message


@pytest.mark.parametrize("stack", STACKS)
def test_no_vm_carries_tags(stack: str) -> None:
    """Proxmox checks tags at creation against /vms/<id> alone: a pool-scoped token could not
    recreate a tagged VM (components/proxmox/vm.py)."""
    assert [r["name"] for r in of_type(recorded_plan(stack), VM) if r["inputs"].get("tags")] == []


def test_dev_may_run_one_control_plane() -> None:
    doc = recorded_plan("dev")
    assert (
        sum(r["inputs"]["description"].startswith("Talos controlplane") for r in of_type(doc, VM))
        == 1
    )
    assert violations(doc, "control-plane-quorum") == []
    assert violations(doc, "control-plane-quorum", environment="staging")


# --- no-exposed-services, no-host-ports ---------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_services_and_pods_stay_off_node_addresses(stack: str) -> None:
    doc = recorded_plan(stack)
    assert violations(doc, "no-exposed-services") == []
    assert violations(doc, "no-host-ports") == []


@pytest.mark.parametrize("kind", ["LoadBalancer", "NodePort"])
def test_load_balancer_and_node_port_services_fail(kind: str) -> None:
    doc = recorded_plan("dev")
    service = one(doc, SERVICE, "cloudflared-metrics")
    service["inputs"]["spec"]["type"] = kind
    [violation] = violations(doc, "no-exposed-services")
    assert violation.urn == service["urn"] and violation.mandatory
    assert f"has spec.type {kind}" in violation.message


def test_host_port_and_host_network_fail() -> None:
    doc = recorded_plan("staging")
    deployment = one(doc, DEPLOYMENT, "cloudflared-deployment")
    pod = deployment["inputs"]["spec"]["template"]["spec"]
    pod["containers"][0]["ports"][0]["hostPort"] = 2000
    pod["hostNetwork"] = True
    messages = sorted(v.message for v in violations(doc, "no-host-ports"))
    assert len(messages) == 2
    assert "spec.template.spec.containers[0].ports[0].hostPort is 2000" in messages[0]
    assert "spec.template.spec.hostNetwork is true" in messages[1]


# --- pinned-images -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_recorded_images_are_pinned(stack: str) -> None:
    assert violations(recorded_plan(stack), "pinned-images") == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("docker.io/cloudflare/cloudflared:latest", "uses the `latest` tag"),
        ("docker.io/cloudflare/cloudflared", "has no tag"),
        ("registry.example.com:5000/cloudflared", "has no tag"),
    ],
)
def test_unpinned_images_fail(image: str, problem: str) -> None:
    doc = recorded_plan("prod")
    deployment = one(doc, DEPLOYMENT, "cloudflared-deployment")
    deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = image
    [violation] = violations(doc, "pinned-images")
    assert violation.urn == deployment["urn"]
    assert f"containers[0].image '{image}' {problem}" in violation.message


def test_init_containers_are_checked_and_digests_pass() -> None:
    doc = recorded_plan("dev")
    pod = one(doc, DEPLOYMENT, "cloudflared-deployment")["inputs"]["spec"]["template"]["spec"]
    pod["containers"][0]["image"] = "docker.io/cloudflare/cloudflared@sha256:" + "a" * 64
    pod["initContainers"] = [{"name": "wait", "image": "busybox"}]
    [violation] = violations(doc, "pinned-images")
    assert "initContainers[0].image 'busybox' has no tag" in violation.message


# --- dns-proxied ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_dns_records_are_proxied(stack: str) -> None:
    doc = recorded_plan(stack)
    assert all(r["inputs"]["proxied"] is True for r in of_type(doc, DNS_RECORD))
    assert violations(doc, "dns-proxied") == []


def test_an_unproxied_record_fails() -> None:
    doc = recorded_plan("prod")
    record = of_type(doc, DNS_RECORD)[0]
    record["inputs"]["proxied"] = False
    [violation] = violations(doc, "dns-proxied")
    assert violation.urn == record["urn"]
    assert f"DnsRecord '{record['inputs']['name']}' is not proxied" in violation.message


# --- argocd-automated-sync -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_argocd_applications_prune_and_self_heal(stack: str) -> None:
    assert violations(recorded_plan(stack), "argocd-automated-sync") == []


def test_an_application_without_self_heal_or_prune_fails() -> None:
    doc = recorded_plan("staging")
    app = one(doc, APPLICATION)
    app["inputs"]["spec"]["syncPolicy"]["automated"] = {"prune": False}
    [violation] = violations(doc, "argocd-automated-sync")
    assert violation.urn == app["urn"]
    assert "spec.syncPolicy.automated.prune and selfHeal must be true" in violation.message


def test_an_application_synced_by_hand_fails() -> None:
    doc = recorded_plan("prod")
    del one(doc, APPLICATION)["inputs"]["spec"]["syncPolicy"]["automated"]
    assert len(violations(doc, "argocd-automated-sync")) == 1


# --- secrets-not-plain ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_recorded_credentials_are_secret(stack: str) -> None:
    doc = recorded_plan(stack)
    assert one(doc, SECRET, "cloudflared-token")["inputs"]["stringData"] == "[secret]"
    assert violations(doc, "secrets-not-plain") == []


def test_plain_credentials_fail_by_path() -> None:
    doc = recorded_plan("dev")
    token_secret = one(doc, SECRET, "cloudflared-token")
    token_secret["inputs"]["stringData"] = {"token": "eyJhIjoi"}
    provider = one(doc, "pulumi:providers:kubernetes", "kubernetes-provider")
    provider["inputs"]["kubeconfig"] = "apiVersion: v1\nkind: Config\n"
    tunnel = one(doc, "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared")
    tunnel["inputs"]["tunnelSecret"] = "c2VjcmV0"
    found = {
        (v.urn, v.message.split(": input ")[1].split(" ")[0])
        for v in violations(doc, "secrets-not-plain")
    }
    assert found == {
        (token_secret["urn"], "stringData.token"),
        (provider["urn"], "kubeconfig"),
        (tunnel["urn"], "tunnelSecret"),
    }


def test_helm_values_password_must_be_secret_but_a_secret_name_may_be_plain() -> None:
    doc = recorded_plan("dev")
    release = one(doc, "kubernetes:helm.sh/v3:Release", "argocd")
    release["inputs"]["values"]["configs"]["secret"] = {
        "argocdServerAdminPassword": "$2a$10$hash",
        "existingSecret": "argocd-secret",
        "createSecret": False,
    }
    [violation] = violations(doc, "secrets-not-plain")
    assert "input values.configs.secret.argocdServerAdminPassword" in violation.message


# --- admin-behind-access ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_recorded_argocd_hostnames_are_behind_access(stack: str) -> None:
    doc = recorded_plan(stack)
    assert of_type(doc, ACCESS_APP)
    assert violations(doc, "admin-behind-access") == []
    assert violations(doc, "admin-behind-access-dev") == []


def test_argocd_hostname_without_access_fails_in_staging_and_prod() -> None:
    for stack in ("staging", "prod"):
        doc = without(recorded_plan(stack), ACCESS_APP)
        tunnel = one(doc, TUNNEL_CONFIG)
        [violation] = violations(doc, "admin-behind-access")
        assert violation.mandatory and violation.urn == tunnel["urn"]
        hostname = f"argocd{'' if stack == 'prod' else '-staging'}.example.com"
        assert violation.message.startswith(f"{hostname} routes to the Argo CD server")


def test_argocd_hostname_without_access_is_advisory_in_dev() -> None:
    doc = without(recorded_plan("dev"), ACCESS_APP)
    assert violations(doc, "admin-behind-access") == []
    [violation] = violations(doc, "admin-behind-access-dev")
    assert not violation.mandatory
    assert "argocd-dev.example.com" in violation.message


@pytest.mark.parametrize(
    "inputs",
    [
        {"domain": "argocd-staging.example.com"},
        {"domain": "https://argocd-staging.example.com/*"},
        {"destinations": [{"type": "public", "uri": "argocd-staging.example.com"}]},
        {"domain": "*.example.com"},
    ],
)
def test_an_access_application_covering_the_hostname_passes(inputs: dict[str, object]) -> None:
    doc = without(recorded_plan("staging"), ACCESS_APP)
    add_access_application(doc, "argocd", **inputs)
    assert violations(doc, "admin-behind-access") == []


@pytest.mark.parametrize(
    "inputs",
    [
        {"domain": "argocd-staging.example.com/api"},  # only a path
        {"domain": "*.staging.example.com"},  # a subdomain's names, not argocd-staging
        {"domain": "app-staging.example.com"},
        {"destinations": [{"type": "private", "uri": "argocd-staging.example.com"}]},
    ],
)
def test_an_access_application_elsewhere_does_not_count(inputs: dict[str, object]) -> None:
    doc = without(recorded_plan("staging"), ACCESS_APP)
    add_access_application(doc, "other", **inputs)
    assert len(violations(doc, "admin-behind-access")) == 1


def test_only_hostnames_routed_to_argocd_need_access() -> None:
    doc = without(recorded_plan("prod"), ACCESS_APP)
    ingresses = one(doc, TUNNEL_CONFIG)["inputs"]["config"]["ingresses"]
    assert [i.get("hostname") for i in ingresses if "argocd-server." in i["service"]] == [
        "argocd.example.com"
    ]
    for ingress in ingresses:
        if "argocd-server." in ingress["service"]:
            ingress["service"] = "http://frontend.podinfo.svc.cluster.local:9898"
    assert violations(doc, "admin-behind-access") == []
