"""The Proxmox CSI plugin's namespace and credentials, created by the program for the storage
add-on of the platform tree: privileged namespace, cloud config from the stack, token secret."""

from __future__ import annotations

import yaml

from components.storage.proxmox_csi import CONFIG_KEY, CONFIG_SECRET, NAMESPACE, cloud_config
from tests.conftest import by_type, recorded, stack_values, with_key

NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
SECRET_TYPE = "kubernetes:core/v1:Secret"
COMPONENT = "talos-platform:storage:ProxmoxCsiCredentials"


def test_the_cloud_config_splits_the_token_and_names_the_region() -> None:
    text = cloud_config(
        "https://pve1.example.com:8006/",
        True,
        "homelab",
        "kubernetes-csi@pve!csi=12345678-1234-1234-1234-123456789abc",
    )
    assert yaml.safe_load(text) == {
        "clusters": [
            {
                "url": "https://pve1.example.com:8006/api2/json",
                "insecure": True,
                "token_id": "kubernetes-csi@pve!csi",
                "token_secret": "12345678-1234-1234-1234-123456789abc",
                "region": "homelab",
            }
        ]
    }


def test_the_namespace_is_privileged_and_the_secret_stays_secret() -> None:
    run = recorded("prod")
    [component] = [r for r in run.registrations if r.type == COMPONENT]
    namespace = next(r for r in by_type(run, NAMESPACE_TYPE) if r.name == "proxmox-csi-namespace")
    assert namespace.parent == component.urn
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    secret = next(r for r in by_type(run, SECRET_TYPE) if r.name == "proxmox-csi-config")
    assert secret.parent == component.urn
    assert secret.inputs["metadata"] == {
        "name": CONFIG_SECRET,
        "namespace": NAMESPACE,
        "labels": secret.inputs["metadata"]["labels"],
    }
    assert secret.inputs["stringData"] in ({CONFIG_KEY: "[secret]"}, "[secret]")
    assert namespace.urn in secret.dependencies
    # In the cluster, with the provider that waits for the health gate.
    main = next(r for r in run.registrations if r.name == "kubernetes-provider")
    assert secret.provider.startswith(main.urn + "::")


def test_no_csi_resources_when_the_stack_turns_storage_off() -> None:
    values, secrets = stack_values("dev")
    off = with_key(values, "storage", {"proxmox_csi": False})
    off.pop("talos-platform:proxmox_csi_token", None)
    run = recorded("dev", off, secrets - {"talos-platform:proxmox_csi_token"})
    assert not [r for r in run.registrations if r.type == COMPONENT]
    assert not [r for r in by_type(run, NAMESPACE_TYPE) if r.name == "proxmox-csi-namespace"]


def test_the_root_application_waits_for_the_csi_namespace_and_secret() -> None:
    run = recorded("prod")
    root = next(
        r
        for r in by_type(run, "kubernetes:argoproj.io/v1alpha1:Application")
        if r.name == "argocd-root"
    )
    secret = next(r for r in by_type(run, SECRET_TYPE) if r.name == "proxmox-csi-config")
    namespace = next(r for r in by_type(run, NAMESPACE_TYPE) if r.name == "proxmox-csi-namespace")
    assert {secret.urn, namespace.urn} <= set(root.dependencies)
