"""The offline runtime answers in the providers' own formats (`offline/answers.py` names the
upstream file of each): code that parses a token, a kubeconfig or a certificate meets what the
real provider returns, not a string made up to pass."""

from __future__ import annotations

import base64
import json
import re

import yaml
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from offline.answers import FABRICATED_SECRETS, PlanMocks

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")


def _pem(value: str, kind: str) -> str:
    pem = base64.b64decode(value, validate=True).decode()
    assert pem.startswith(f"-----BEGIN {kind}-----\n"), pem[:40]
    assert pem.endswith(f"-----END {kind}-----\n")
    return pem


def test_machine_secrets_have_the_talos_formats() -> None:
    ident, out = PlanMocks().new_resource(
        MockResourceArgs("talos:machine/secrets:Secrets", "s", {"talosVersion": "v1.13.9"})
    )
    assert ident == "machine_secrets"
    secrets = out["machineSecrets"]
    assert len(base64.urlsafe_b64decode(secrets["cluster"]["id"])) == 32
    assert len(base64.b64decode(secrets["cluster"]["secret"], validate=True)) == 32
    assert TOKEN.match(secrets["secrets"]["bootstrapToken"])
    assert TOKEN.match(secrets["trustdinfo"]["token"])
    assert "aescbcEncryptionSecret" not in secrets["secrets"]  # Talos > 1.2 contracts
    for name in ("etcd", "k8s", "k8sAggregator", "os"):
        _pem(secrets["certs"][name]["cert"], "CERTIFICATE")
    for name in ("etcd", "k8s", "k8sAggregator"):
        _pem(secrets["certs"][name]["key"], "EC PRIVATE KEY")
    _pem(secrets["certs"]["os"]["key"], "ED25519 PRIVATE KEY")
    _pem(out["clientConfiguration"]["caCertificate"], "CERTIFICATE")
    assert out["clientConfiguration"]["clientKey"] in FABRICATED_SECRETS


def test_kubeconfig_names_the_cluster_and_its_vip_endpoint() -> None:
    mocks = PlanMocks()
    mocks.call(
        MockCallArgs(
            "talos:machine/getConfiguration:getConfiguration",
            {"clusterName": "prod", "clusterEndpoint": "https://203.0.113.10:6443"},
            "",
        )
    )
    ident, out = mocks.new_resource(
        MockResourceArgs("talos:cluster/kubeconfig:Kubeconfig", "k", {"node": "203.0.113.11"})
    )
    assert ident == "prod"
    config = yaml.safe_load(out["kubeconfigRaw"])
    assert config["current-context"] == "admin@prod"
    assert config["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:6443"
    assert out["kubernetesClientConfiguration"]["host"] == "https://203.0.113.10:6443"
    _pem(config["users"][0]["user"]["client-certificate-data"], "CERTIFICATE")
    assert out["endpoint"] == "203.0.113.11"


def test_talosconfig_has_one_context_named_after_the_cluster() -> None:
    client = {"caCertificate": "Y2E=", "clientCertificate": "Y3J0", "clientKey": "a2V5"}
    out = PlanMocks().call(
        MockCallArgs(
            "talos:client/getConfiguration:getConfiguration",
            {"clusterName": "prod", "clientConfiguration": client, "endpoints": ["203.0.113.11"]},
            "",
        )
    )
    config = yaml.safe_load(out["talosConfig"])
    assert config["context"] == "prod"
    assert config["contexts"]["prod"] == {
        "endpoints": ["203.0.113.11"],
        "ca": "Y2E=",
        "crt": "Y3J0",
        "key": "a2V5",
    }


def test_tunnel_token_is_what_cloudflared_parses() -> None:
    mocks = PlanMocks()
    secret = base64.b64encode(b"\x01" * 32).decode()
    tunnel_id, out = mocks.new_resource(
        MockResourceArgs(
            "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
            "tunnel",
            {"accountId": "0123456789abcdef0123456789abcdef", "name": "t", "tunnelSecret": secret},
        )
    )
    assert out["accountTag"] == "0123456789abcdef0123456789abcdef"
    answer = mocks.call(
        MockCallArgs(
            "cloudflare:index/getZeroTrustTunnelCloudflaredToken:"
            "getZeroTrustTunnelCloudflaredToken",
            {"accountId": "0123456789abcdef0123456789abcdef", "tunnelId": tunnel_id},
            "",
        )
    )
    decoded = json.loads(base64.b64decode(answer["token"], validate=True))
    assert decoded == {"a": "0123456789abcdef0123456789abcdef", "s": secret, "t": tunnel_id}


def test_random_bytes_id_is_its_value_as_pulumi_random_stores_it() -> None:
    ident, out = PlanMocks().new_resource(
        MockResourceArgs("random:index/randomBytes:RandomBytes", "b", {"length": 32})
    )
    assert ident == out["base64"]


def test_vm_and_download_ids_are_the_providers() -> None:
    mocks = PlanMocks()
    ident, out = mocks.new_resource(
        MockResourceArgs(
            "proxmoxve:download/file:File",
            "img",
            {"datastoreId": "local", "contentType": "import", "fileName": "t.qcow2"},
        )
    )
    assert ident == "local:import/t.qcow2"
    assert isinstance(out["size"], int)
    ident, out = mocks.new_resource(
        MockResourceArgs("proxmoxve:index/vmLegacy:VmLegacy", "vm", {"vmId": 3101})
    )
    assert ident == "3101"
    # wait_for_ip.disabled: the agent is not asked, the lists stay empty (list of lists).
    assert out["ipv4Addresses"] == [] and out["macAddresses"] == []


def test_commands_and_applies_answer_as_their_providers() -> None:
    mocks = PlanMocks()
    ident, out = mocks.new_resource(
        MockResourceArgs("command:local:Command", "talos-health", {"create": "true"})
    )
    assert re.fullmatch(r"talos-health[0-9a-f]{8}", ident)  # resource.NewUniqueHex(name, 8, 0)
    assert out["stdout"] == "" and out["stderr"] == "" and out["create"] == "true"
    for mode, resolved in (("staged_if_needing_reboot", "auto"), ("no_reboot", "no_reboot")):
        _, applied = mocks.new_resource(
            MockResourceArgs(
                "talos:machine/configurationApply:ConfigurationApply",
                "a",
                {"applyMode": mode, "node": "192.0.2.11", "machineConfigurationInput": "x"},
            )
        )
        assert applied["resolvedApplyMode"] == resolved
