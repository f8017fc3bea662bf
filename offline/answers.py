"""What the offline runtime answers in place of the providers: ids, computed outputs, invoke
results, each in the shape the real provider returns, with the upstream file it follows named
beside it. Nothing here is a real secret: keys, certificates and tokens are fabricated from a
digest of the inputs, in the real format (base64 of PEM, bootstrap-token syntax, ...), so code
that parses them is exercised, and `FABRICATED_SECRETS` lets the tests check none is printed.

Every value is derived deterministically from the inputs, so two plans of the same config are
identical and a diff of two plans shows only what the config change touches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
import uuid
from typing import Any

import yaml
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from .recorder import SECRET_SIG

_UUIDS = uuid.UUID("5f2a4e0c-6b7d-4c1e-9a53-1d2b8f0e7a61")
FACTORY = "factory.talos.dev"
"""siderolabs/terraform-provider-talos `pkg/talos/provider.go`: `ImageFactoryURL`."""
CREATED_AT = "2026-01-01T00:00:00Z"
"""A fixed timestamp where providers report one (the plan stays byte-identical)."""
IMAGE_BYTES = 319_094_784
"""A size for the downloaded qcow2 image (bpg `download/file` `size`, in bytes): the factory's
nocloud disk is 1246 MiB raw (siderolabs/talos `pkg/imager/profile/default.go`), less as qcow2."""

FABRICATED_SECRETS: set[str] = set()
"""Every secret value answered so far (keys, certificates, tokens, kubeconfigs)."""


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _bytes(length: int, *parts: object) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256("/".join(map(str, (*parts, counter))).encode()).digest()
        counter += 1
    return out[:length]


def _secret(value: str) -> str:
    FABRICATED_SECRETS.add(value)
    return value


def _b64_pem(kind: str, *parts: object) -> str:
    """Standard base64 of a PEM block, as the talos provider hands out every certificate and key
    (terraform-provider-talos `pkg/talos/util.go`, `bytesToBase64`)."""
    body = base64.b64encode(_bytes(96, kind, *parts)).decode()
    pem = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
    return _secret(base64.b64encode(pem.encode()).decode())


def _certificate(name: str, *parts: object) -> dict[str, str]:
    return {
        "cert": _b64_pem("CERTIFICATE", name, *parts),
        "key": _b64_pem("EC PRIVATE KEY", name, *parts),
    }


def _token(*parts: object) -> str:
    """`[a-z0-9]{6}.[a-z0-9]{16}` (siderolabs/talos `pkg/machinery/config/generate/secrets/
    bundle.go`, `genToken(6, 16)`)."""
    alphabet = string.digits + string.ascii_lowercase
    raw = _bytes(22, "token", *parts)
    chars = "".join(alphabet[b % len(alphabet)] for b in raw)
    return _secret(f"{chars[:6]}.{chars[6:]}")


def talos_machine_secrets(name: str) -> dict[str, Any]:
    """`talos_machine_secrets.machine_secrets` for a Talos 1.13 contract (terraform-provider-talos
    `pkg/talos/talos_machine_secrets_resource.go` and `util.go`, `secretsBundleTomachineSecrets`):
    cluster id URL-safe base64 and cluster secret standard base64 of 32 bytes, tokens in
    bootstrap-token form, certificates and keys base64 of PEM, no aescbc secret (contract > 1.2).
    """
    return {
        "certs": {
            "etcd": _certificate("etcd", name),
            "k8s": _certificate("k8s", name),
            "k8sAggregator": _certificate("k8s-aggregator", name),
            "k8sServiceaccount": {"key": _b64_pem("RSA PRIVATE KEY", "sa", name)},
            # The OS (Talos API) CA is Ed25519 (terraform-provider-talos util.go).
            "os": {
                "cert": _b64_pem("CERTIFICATE", "os", name),
                "key": _b64_pem("ED25519 PRIVATE KEY", "os", name),
            },
        },
        "cluster": {
            "id": _secret(base64.urlsafe_b64encode(_bytes(32, "cluster-id", name)).decode()),
            "secret": _secret(base64.b64encode(_bytes(32, "cluster-secret", name)).decode()),
        },
        "secrets": {
            "bootstrapToken": _token("bootstrap", name),
            "secretboxEncryptionSecret": _secret(
                base64.b64encode(_bytes(32, "secretbox", name)).decode()
            ),
        },
        "trustdinfo": {"token": _token("trustd", name)},
    }


def talos_client_configuration(name: str) -> dict[str, str]:
    """`client_configuration`: the OS CA and an `os:admin` client certificate, base64 of PEM."""
    return {
        "caCertificate": _b64_pem("CERTIFICATE", "os", name),
        "clientCertificate": _b64_pem("CERTIFICATE", "admin", name),
        "clientKey": _b64_pem("ED25519 PRIVATE KEY", "admin", name),
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
                    "certificate-authority-data": _b64_pem("CERTIFICATE", "k8s", name),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64_pem("CERTIFICATE", "k8s-admin", name),
                    "client-key-data": _b64_pem("EC PRIVATE KEY", "k8s-admin", name),
                },
            }
        ],
        "contexts": [
            {"name": user, "context": {"cluster": cluster, "namespace": "default", "user": user}}
        ],
        "current-context": user,
        "preferences": {},
    }
    return _secret(yaml.safe_dump(doc, sort_keys=False))


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
    return _secret(yaml.safe_dump({"context": cluster, "contexts": {cluster: context}}))


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
    return _secret(yaml.safe_dump_all([v1alpha1, *others], sort_keys=True))


def tunnel_token(account_id: str, tunnel_id: str, secret: str) -> str:
    """The connector token (cloudflare/cloudflared `connection/connection.go`, `TunnelToken`):
    standard base64 of `{"a": account tag, "s": tunnel secret (base64), "t": tunnel id}`."""
    payload = json.dumps({"a": account_id, "s": secret, "t": tunnel_id}, separators=(",", ":"))
    return _secret(base64.b64encode(payload.encode()).decode())


def _plain(value: Any) -> Any:
    """A value as the provider receives it: the engine unwraps secrets before calling it, the
    mock monitor hands them on wrapped (`{<secret sig>: ..., "value": ...}`)."""
    if isinstance(value, dict) and SECRET_SIG in value.values():
        return value.get("value")
    return value


class PlanMocks(Mocks):
    """Answers resource registrations and provider function calls of the whole program."""

    def __init__(self) -> None:
        self.tunnel_secrets: dict[str, str] = {}
        self.configured_cluster = ("cluster", "https://0.0.0.0:6443")
        """The cluster name and endpoint the nodes' configuration was generated with: what
        Talos writes into the kubeconfig. The kubeconfig waits for the bootstrap, which waits
        for a node's apply of a generated configuration, so a `getConfiguration` call always
        comes first."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ == "talos:machine/secrets:Secrets":
            # id: the constant "machine_secrets" (util.go, secretsBundleTomachineSecrets).
            return "machine_secrets", {
                **inputs,
                "talosVersion": inputs.get("talosVersion", "v1.13"),
                "machineSecrets": talos_machine_secrets(name),
                "clientConfiguration": talos_client_configuration(name),
            }
        if typ == "talos:cluster/kubeconfig:Kubeconfig":
            # talos_cluster_kubeconfig_resource.go: id is the cluster name; the client
            # configuration is base64 of PEM; the renewal window defaults to 720h.
            cluster, server = self.configured_cluster
            return cluster, {
                **inputs,
                "endpoint": inputs.get("endpoint") or inputs.get("node"),
                "certificateRenewalDuration": inputs.get("certificateRenewalDuration", "720h"),
                "kubeconfigRaw": kubeconfig(cluster, server, name),
                "kubernetesClientConfiguration": {
                    "host": server,
                    "caCertificate": _b64_pem("CERTIFICATE", "k8s", name),
                    "clientCertificate": _b64_pem("CERTIFICATE", "k8s-admin", name),
                    "clientKey": _b64_pem("EC PRIVATE KEY", "k8s-admin", name),
                },
            }
        if typ == "talos:imageFactory/schematic:Schematic":
            # siderolabs/image-factory `pkg/schematic/schematic.go`, ID(): the SHA-256 (hex) of
            # the schematic as the factory re-marshals it; here of the document as sent.
            return hashlib.sha256(str(inputs.get("schematic", "")).encode()).hexdigest(), inputs
        if typ == "talos:machine/configurationApply:ConfigurationApply":
            # talos_machine_configuration_apply_resource.go: constant id; without patches the
            # applied configuration is the input verbatim, and its hash the SHA-256 hex.
            # resolved_apply_mode (ModifyPlan, resolveApplyMode): the mode as given, except
            # `staged_if_needing_reboot`, whose dry-run against a node that is not configured
            # yet fails at creation and falls back to `auto`.
            applied = str(_plain(inputs.get("machineConfigurationInput")) or "")
            mode = str(inputs.get("applyMode", "auto"))
            return "machine_configuration_apply", {
                **inputs,
                "applyMode": mode,
                "endpoint": inputs.get("endpoint") or inputs.get("node"),
                "machineConfiguration": applied,
                "machineConfigurationHash": hashlib.sha256(applied.encode()).hexdigest(),
                "resolvedApplyMode": "auto" if mode == "staged_if_needing_reboot" else mode,
            }
        if typ == "command:local:Command":
            # pulumi-command v1.2.1 `provider/pkg/provider/local/commandController.go`, Create:
            # the ID is the name plus 8 random hex digits (resource.NewUniqueHex(name, 8, 0));
            # the outputs are the inputs and the create command's stdout and stderr.
            return f"{name}{_digest(typ, name)[:8]}", {**inputs, "stdout": "", "stderr": ""}
        if typ == "talos:machine/bootstrap:Bootstrap":
            return "machine_bootstrap", inputs  # talos_machine_bootstrap_resource.go
        if typ in ("proxmoxve:download/file:File", "proxmoxve:download/fileLegacy:FileLegacy"):
            # bpg `fwprovider/nodes/resource_download_file.go`: id
            # `<datastore>:<content_type>/<file_name>`; `size` in bytes is the only other output.
            file_id = (
                f"{inputs.get('datastoreId')}:{inputs.get('contentType')}/{inputs.get('fileName')}"
            )
            return file_id, {
                **inputs,
                "overwrite": inputs.get("overwrite", True),
                "overwriteUnmanaged": inputs.get("overwriteUnmanaged", False),
                "uploadTimeout": inputs.get("uploadTimeout", 600),
                "verify": inputs.get("verify", True),
                "size": IMAGE_BYTES,
            }
        if typ == "proxmoxve:index/vmLegacy:VmLegacy":
            # bpg `proxmoxtf/resource/vm/vm.go`: id is the VM id in decimal. With
            # `agent.wait_for_ip.disabled` the agent is not asked, so the address lists, the
            # interface names and the MACs stay empty (`vm/network/network.go`).
            return str(inputs.get("vmId")), {
                **inputs,
                "ipv4Addresses": [],
                "ipv6Addresses": [],
                "macAddresses": [],
                "networkInterfaceNames": [],
            }
        if typ == "random:index/randomPassword:RandomPassword":
            # pulumi/pulumi-random `randomPassword` (terraform-provider-random `password.go`):
            # the id is "none", `result` the password, `bcrypt_hash` its hash.
            alphabet = string.ascii_letters + string.digits
            if inputs.get("special", True):
                alphabet += str(inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?")
            raw = _bytes(int(inputs.get("length", 16)), "password", name)
            result = _secret("".join(alphabet[b % len(alphabet)] for b in raw))
            return "none", {
                **inputs,
                "result": result,
                "bcryptHash": _secret("$2a$10$" + _digest("bcrypt", name)[:53]),
            }
        if typ == "random:index/randomBytes:RandomBytes":
            # pulumi/pulumi-random `randomBytes`: `length` random bytes as base64 and hex, and
            # the id is the base64 value itself (`provider/resources.go`, computeRandomBytesID):
            # never use it for a secret.
            raw = _bytes(int(inputs.get("length", 32)), "random", name)
            return base64.b64encode(raw).decode(), {
                **inputs,
                "base64": _secret(base64.b64encode(raw).decode()),
                "hex": _secret(raw.hex()),
            }
        if typ == "random:index/randomId:RandomId":
            # pulumi/pulumi-random `randomId` (terraform-provider-random `id.go`): the id is
            # the URL-safe base64 form; hex, decimal and both base64 forms are outputs.
            raw = _bytes(int(inputs.get("byteLength", 8)), "random-id", name)
            b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            return b64_url, {
                **inputs,
                "b64Std": base64.b64encode(raw).decode(),
                "b64Url": b64_url,
                "dec": str(int.from_bytes(raw, "big")),
                "hex": raw.hex(),
            }
        if typ == "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":
            # cloudflare/terraform-provider-cloudflare `internal/services/
            # zero_trust_tunnel_cloudflared/schema.go`: a UUID id and the account tag; the
            # secret is write-only (never read back).
            tunnel_id = str(uuid.uuid5(_UUIDS, f"{inputs.get('accountId')}/{inputs.get('name')}"))
            self.tunnel_secrets[tunnel_id] = str(_plain(inputs.get("tunnelSecret")) or "")
            return tunnel_id, {
                **inputs,
                "accountTag": inputs.get("accountId"),
                "createdAt": CREATED_AT,
                "connsActiveAt": None,
                "connsInactiveAt": None,
                "deletedAt": None,
                "remoteConfig": inputs.get("configSrc") == "cloudflare",
                "status": "inactive",
                "tunType": "cfd_tunnel",
                "connections": [],
            }
        if typ == (
            "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
        ):
            # `zero_trust_tunnel_cloudflared_config/model.go`: the id is the tunnel's.
            return str(inputs.get("tunnelId")), {
                **inputs,
                "createdAt": CREATED_AT,
                "source": "cloudflare",
                "version": 1,
            }
        if typ == "cloudflare:index/dnsRecord:DnsRecord":
            # `internal/services/dns_record/schema.go`: a 32-hex id and timestamps.
            return _digest(typ, name)[:32], {
                **inputs,
                "createdOn": CREATED_AT,
                "modifiedOn": CREATED_AT,
                "proxiable": True,
                "meta": "{}",
            }
        if typ in (
            "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication",
            "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
        ):
            # Access ids are UUIDs; an application also gets its 64-hex audience tag.
            outputs = {**inputs, "createdAt": CREATED_AT, "updatedAt": CREATED_AT}
            if typ.endswith("ZeroTrustAccessApplication"):
                outputs["aud"] = _digest("aud", typ, name)
            return str(uuid.uuid5(_UUIDS, f"{typ}/{name}")), outputs
        if typ.startswith("cloudflare:"):
            return _digest(typ, name)[:32], inputs
        return f"{name}-id", inputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        a = args.args
        token = args.token
        if token == "talos:machine/getConfiguration:getConfiguration":
            self.configured_cluster = (str(a.get("clusterName")), str(a.get("clusterEndpoint")))
            return {
                **a,
                "id": a.get("clusterName"),
                "machineConfiguration": machine_configuration(a),
            }
        if token == "talos:imageFactory/getUrls:getUrls":
            urls = factory_urls(
                a["schematicId"],
                a["talosVersion"],
                a.get("platform", "metal"),
                a.get("architecture", "amd64"),
            )
            return {**a, "id": "", "urls": urls}
        if token == "talos:client/getConfiguration:getConfiguration":
            cluster = str(a.get("clusterName"))
            client = dict(a.get("clientConfiguration") or {})
            return {
                **a,
                "id": cluster,
                "talosConfig": talosconfig(
                    cluster, client, a.get("endpoints") or [], a.get("nodes") or []
                ),
            }
        if token == (
            "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken"
        ):
            tunnel_id = str(a.get("tunnelId"))
            secret = self.tunnel_secrets.get(tunnel_id, "")
            return {**a, "token": tunnel_token(str(a.get("accountId")), tunnel_id, secret)}
        return a
