"""Answers of the Talos provider (siderolabs/terraform-provider-talos) and the Talos Image
Factory: machine secrets, client configuration, factory URLs, kubeconfig, talosconfig and the
generated machine configuration, in the shapes the provider returns."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from .fabricate import b64_pem, bootstrap_token, certificate, raw_bytes, secret

FACTORY = "factory.talos.dev"
"""siderolabs/terraform-provider-talos `pkg/talos/provider.go`: `ImageFactoryURL`."""


def talos_machine_secrets(name: str) -> dict[str, Any]:
    """`talos_machine_secrets.machine_secrets` for a Talos 1.13 contract (terraform-provider-talos
    `pkg/talos/talos_machine_secrets_resource.go` and `util.go`, `secretsBundleTomachineSecrets`):
    cluster id URL-safe base64 and cluster secret standard base64 of 32 bytes, tokens in
    bootstrap-token form, certificates and keys base64 of PEM, no aescbc secret (contract > 1.2).
    """
    return {
        "certs": {
            "etcd": certificate("etcd", name),
            "k8s": certificate("k8s", name),
            "k8sAggregator": certificate("k8s-aggregator", name),
            "k8sServiceaccount": {"key": b64_pem("RSA PRIVATE KEY", "sa", name)},
            # The OS (Talos API) CA is Ed25519 (terraform-provider-talos util.go).
            "os": {
                "cert": b64_pem("CERTIFICATE", "os", name),
                "key": b64_pem("ED25519 PRIVATE KEY", "os", name),
            },
        },
        "cluster": {
            "id": secret(base64.urlsafe_b64encode(raw_bytes(32, "cluster-id", name)).decode()),
            "secret": secret(base64.b64encode(raw_bytes(32, "cluster-secret", name)).decode()),
        },
        "secrets": {
            "bootstrapToken": bootstrap_token("bootstrap", name),
            "secretboxEncryptionSecret": secret(
                base64.b64encode(raw_bytes(32, "secretbox", name)).decode()
            ),
        },
        "trustdinfo": {"token": bootstrap_token("trustd", name)},
    }


def talos_client_configuration(name: str) -> dict[str, str]:
    """`client_configuration`: the OS CA and an `os:admin` client certificate, base64 of PEM."""
    return {
        "caCertificate": b64_pem("CERTIFICATE", "os", name),
        "clientCertificate": b64_pem("CERTIFICATE", "admin", name),
        "clientKey": b64_pem("ED25519 PRIVATE KEY", "admin", name),
    }


def factory_urls(schematic_id: str, version: str, platform: str, arch: str) -> dict[str, Any]:
    """`talos_image_factory_urls.urls` (terraform-provider-talos
    `pkg/talos/talos_image_factory_urls_data_source.go`): for a cloud platform such as nocloud
    the disk image has the platform's suffix, `raw.xz` (siderolabs/talos
    `pkg/machinery/platforms/platforms.go`), and kernel, cmdline, initramfs and UKI are only set
    for `metal` (null otherwise)."""
    version = "v" + version.removeprefix("v")
    base = f"https://{FACTORY}/image/{schematic_id}/{version}"
    suffix = "raw.zst" if platform == "metal" else "raw.xz"
    urls: dict[str, Any] = {
        "diskImage": f"{base}/{platform}-{arch}.{suffix}",
        "diskImageSecureboot": f"{base}/{platform}-{arch}-secureboot.{suffix}",
        "installer": f"{FACTORY}/{platform}-installer/{schematic_id}:{version}",
        "installerSecureboot": (
            f"{FACTORY}/{platform}-installer-secureboot/{schematic_id}:{version}"
        ),
        "iso": f"{base}/{platform}-{arch}.iso",
        "isoSecureboot": f"{base}/{platform}-{arch}-secureboot.iso",
        "pxe": f"https://pxe.{FACTORY}/pxe/{schematic_id}/{version}/{platform}-{arch}",
        "initramfs": None,
        "kernel": None,
        "kernelCommandLine": None,
        "uki": None,
    }
    if platform == "metal":
        urls.update(
            initramfs=f"{base}/initramfs-{arch}.xz",
            kernel=f"{base}/kernel-{arch}",
            kernelCommandLine=f"{base}/cmdline-{platform}-{arch}",
            uki=f"{base}/{platform}-{arch}-secureboot-uki.efi",
        )
    return urls


def kubeconfig(cluster: str, server: str, name: str) -> str:
    """The admin kubeconfig Talos returns (siderolabs/talos `pkg/kubeconfig/generate.go`,
    `GenerateAdmin`): cluster named after the cluster, server the control-plane endpoint, user
    and context `admin@<cluster>` with namespace `default`."""
    user = f"admin@{cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64_pem("CERTIFICATE", "k8s", name),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64_pem("CERTIFICATE", "k8s-admin", name),
                    "client-key-data": b64_pem("EC PRIVATE KEY", "k8s-admin", name),
                },
            }
        ],
        "contexts": [
            {"name": user, "context": {"cluster": cluster, "namespace": "default", "user": user}}
        ],
        "current-context": user,
        "preferences": {},
    }
    return secret(yaml.safe_dump(doc, sort_keys=False))


def talosconfig(cluster: str, client: dict[str, Any], endpoints: list, nodes: list) -> str:
    """`talos_client_configuration.talos_config` (siderolabs/talos
    `pkg/machinery/client/config/config.go`, `NewConfig`): one context named after the cluster;
    `nodes` only when given."""
    context: dict[str, Any] = {"endpoints": list(endpoints)}
    if nodes:
        context["nodes"] = list(nodes)
    context.update(
        ca=client.get("caCertificate", ""),
        crt=client.get("clientCertificate", ""),
        key=client.get("clientKey", ""),
    )
    return secret(yaml.safe_dump({"context": cluster, "contexts": {cluster: context}}))


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A v1alpha1 strategic-merge patch, as far as this program's patches go: maps merge, other
    values (lists included) replace (siderolabs/talos `pkg/machinery/config/configpatcher`)."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def machine_configuration(args: dict[str, Any]) -> str:
    """`talos_machine_configuration.machine_configuration`: the generated multi-document YAML
    (terraform-provider-talos `pkg/talos/util.go`, `bundle.Serialize`), the v1alpha1 document
    first, with the v1alpha1 patches merged in, then each patch document of another kind. Only
    the fields the inputs decide are filled in: the images follow `kubernetes_version` as the
    generator sets them (siderolabs/talos `pkg/machinery/constants`: KubeletImage,
    APIServerImage); the offline checks merge the patches into the real generated base
    (`offline/validators/checks.py`)."""
    kubernetes = "v" + str(args.get("kubernetesVersion") or "").removeprefix("v")
    v1alpha1: dict[str, Any] = {
        "version": "v1alpha1",
        "machine": {
            "type": args.get("machineType"),
            "kubelet": {"image": f"ghcr.io/siderolabs/kubelet:{kubernetes}"},
        },
        "cluster": {
            "clusterName": args.get("clusterName"),
            "controlPlane": {"endpoint": args.get("clusterEndpoint")},
        },
    }
    if args.get("machineType") == "controlplane":
        v1alpha1["cluster"]["apiServer"] = {"image": f"registry.k8s.io/kube-apiserver:{kubernetes}"}
    others = []
    for patch in args.get("configPatches") or []:
        doc = yaml.safe_load(patch)
        if isinstance(doc, dict) and "kind" in doc:
            others.append(doc)
        elif isinstance(doc, dict):
            v1alpha1 = _merge(v1alpha1, doc)
    return secret(yaml.safe_dump_all([v1alpha1, *others], sort_keys=True))
