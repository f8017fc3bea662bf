"""Plausible provider answers for the offline plan: ids and computed outputs, never real secrets.

Every value a real provider would compute (tunnel ids, schematic ids, image URLs) is derived
deterministically from the inputs, so two plans of the same config are identical and a diff
of two plans shows only what the config change touches.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

PLACEHOLDER = "offline-placeholder"
_NAMESPACE = uuid.UUID("5f2a4e0c-6b7d-4c1e-9a53-1d2b8f0e7a61")

FACTORY = "factory.talos.dev"


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _certificate() -> dict[str, str]:
    return {"cert": PLACEHOLDER, "key": PLACEHOLDER}


def talos_machine_secrets() -> dict[str, Any]:
    return {
        "certs": {
            "etcd": _certificate(),
            "k8s": _certificate(),
            "k8sAggregator": _certificate(),
            "k8sServiceaccount": {"key": PLACEHOLDER},
            "os": _certificate(),
        },
        "cluster": {"id": PLACEHOLDER, "secret": PLACEHOLDER},
        "secrets": {"bootstrapToken": PLACEHOLDER, "secretboxEncryptionSecret": PLACEHOLDER},
        "trustdinfo": {"token": PLACEHOLDER},
    }


def talos_client_configuration() -> dict[str, str]:
    return {
        "caCertificate": PLACEHOLDER,
        "clientCertificate": PLACEHOLDER,
        "clientKey": PLACEHOLDER,
    }


def factory_urls(schematic_id: str, version: str, platform: str, arch: str) -> dict[str, str]:
    base = f"https://{FACTORY}/image/{schematic_id}/{version}"
    return {
        "diskImage": f"{base}/{platform}-{arch}.raw.zst",
        "diskImageSecureboot": f"{base}/{platform}-{arch}-secureboot.raw.zst",
        "initramfs": f"{base}/initramfs-{arch}.xz",
        "installer": f"{FACTORY}/{platform}-installer/{schematic_id}:{version}",
        "installerSecureboot": (
            f"{FACTORY}/{platform}-installer-secureboot/{schematic_id}:{version}"
        ),
        "iso": f"{base}/{platform}-{arch}.iso",
        "isoSecureboot": f"{base}/{platform}-{arch}-secureboot.iso",
        "kernel": f"{base}/kernel-{arch}",
        "kernelCommandLine": f"{base}/cmdline-{platform}-{arch}",
        "pxe": f"https://pxe.{FACTORY}/pxe/{schematic_id}/{version}/{platform}-{arch}",
        "uki": f"{base}/{platform}-{arch}-secureboot-uki.efi",
    }


class PlanMocks(Mocks):
    """Answers resource registrations and provider function calls of the whole program."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ = args.typ
        if typ == "talos:machine/secrets:Secrets":
            return f"{args.name}-id", {
                **inputs,
                "machineSecrets": talos_machine_secrets(),
                "clientConfiguration": talos_client_configuration(),
            }
        if typ == "talos:cluster/kubeconfig:Kubeconfig":
            return f"{args.name}-id", {
                **inputs,
                "kubeconfigRaw": f"# {PLACEHOLDER}: admin kubeconfig of {inputs.get('endpoint')}",
                "kubernetesClientConfiguration": {
                    "host": f"https://{inputs.get('endpoint')}:6443",
                    "caCertificate": PLACEHOLDER,
                    "clientCertificate": PLACEHOLDER,
                    "clientKey": PLACEHOLDER,
                },
            }
        if typ == "talos:imageFactory/schematic:Schematic":
            # The Image Factory names a schematic by the SHA-256 of its content, as here.
            return hashlib.sha256(str(inputs.get("schematic", "")).encode()).hexdigest(), inputs
        if typ == "talos:machine/configurationApply:ConfigurationApply":
            return f"{args.name}-id", {
                **inputs,
                "machineConfiguration": inputs.get("machineConfigurationInput", ""),
            }
        if typ == "proxmoxve:download/fileLegacy:FileLegacy":
            file_id = f"{inputs.get('datastoreId')}:iso/{inputs.get('fileName')}"
            return file_id, {**inputs, "size": 0}
        if typ == "proxmoxve:index/vmLegacy:VmLegacy":
            return str(inputs.get("vmId")), inputs
        if typ == "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":
            tunnel_id = str(
                uuid.uuid5(_NAMESPACE, f"{inputs.get('accountId')}/{inputs.get('name')}")
            )
            return tunnel_id, {**inputs, "id": tunnel_id}
        if typ == "random:index/randomBytes:RandomBytes":
            return f"{args.name}-id", {**inputs, "base64": PLACEHOLDER, "hex": PLACEHOLDER}
        if typ.startswith("cloudflare:"):
            return _digest(typ, args.name)[:32], inputs
        return f"{args.name}-id", inputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        a = args.args
        token = args.token
        if token == "talos:machine/getConfiguration:getConfiguration":
            patches = a.get("configPatches") or []
            return {
                **a,
                "machineConfiguration": (
                    f"# {PLACEHOLDER}: {a.get('machineType')} configuration of "
                    f"{a.get('clusterName')} with {len(patches)} patches\n"
                ),
            }
        if token == "talos:imageFactory/getUrls:getUrls":
            urls = factory_urls(
                a["schematicId"],
                a["talosVersion"],
                a.get("platform", "metal"),
                a.get("architecture", "amd64"),
            )
            return {**a, "urls": urls}
        if token == "talos:client/getConfiguration:getConfiguration":
            return {**a, "id": a.get("clusterName"), "talosConfig": f"# {PLACEHOLDER}: talosconfig"}
        if token == "talos:cluster/getHealth:getHealth":
            return {**a, "id": "healthy"}
        if token == (
            "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken"
        ):
            return {**a, "token": PLACEHOLDER}
        return a
