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
import string
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from ..recorder import SECRET, SECRET_SIG, SIG
from . import cloudflare
from .cloudflare import tunnel_token
from .fabricate import (
    FABRICATED_SECRETS,
    b64_pem,
    digest,
    plain,
    raw_bytes,
    secret,
)
from .talos import (
    factory_urls,
    kubeconfig,
    machine_configuration,
    talos_client_configuration,
    talos_machine_secrets,
    talosconfig,
)

__all__ = ["FABRICATED_SECRETS", "PlanMocks", "factory_urls", "tunnel_token"]

IMAGE_BYTES = 319_094_784
"""A size for the downloaded qcow2 image (bpg `download/file` `size`, in bytes): the factory's
nocloud disk is 1246 MiB raw (siderolabs/talos `pkg/imager/profile/default.go`), less as qcow2."""


STACK_REFERENCE = "pulumi:pulumi:StackReference"


class UnknownStackError(Exception):
    """A StackReference to a stack whose outputs the offline run does not have."""


def stack_reference(name: str, outputs: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """What the engine reads for a StackReference (pulumi `pkg/resource/deploy/builtins.go`,
    readStackReference): the id is the stack's name; `outputs` are the stack's outputs and
    `secretOutputNames` the names of the secret ones, sorted. A stack the backend does not
    have is an error there ("no stack named ..."), and here."""
    if name not in outputs:
        raise UnknownStackError(f"no stack named {name!r} among {sorted(outputs)}")
    stack_outputs = outputs[name]
    secret_names = sorted(k for k, v in stack_outputs.items() if v == SECRET_OUTPUT)
    # A secret output is a secret value in the engine's answer (the SDK's wire form of a secret).
    values = {
        k: {SIG: SECRET_SIG, "value": v} if k in secret_names else v
        for k, v in stack_outputs.items()
    }
    return name, {"name": name, "outputs": values, "secretOutputNames": secret_names}


SECRET_OUTPUT = SECRET
"""How an offline run's outputs show a secret one."""


class PlanMocks(Mocks):
    """Answers resource registrations and provider function calls of the whole program."""

    def __init__(self, stack_outputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.stack_outputs = dict(stack_outputs or {})
        """The outputs of the stacks a StackReference may read, by fully qualified name
        (`organization/project/stack`), as the offline run of each stack exported them."""
        self.tunnel_secrets: dict[str, str] = {}
        self.configured_cluster = ("cluster", "https://0.0.0.0:6443")
        """The cluster name and endpoint the nodes' configuration was generated with: what
        Talos writes into the kubeconfig. The kubeconfig waits for the bootstrap, which waits
        for a node's apply of a generated configuration, so a `getConfiguration` call always
        comes first."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ == STACK_REFERENCE:
            return stack_reference(str(args.resource_id or inputs.get("name")), self.stack_outputs)
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
                    "caCertificate": b64_pem("CERTIFICATE", "k8s", name),
                    "clientCertificate": b64_pem("CERTIFICATE", "k8s-admin", name),
                    "clientKey": b64_pem("EC PRIVATE KEY", "k8s-admin", name),
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
            applied = str(plain(inputs.get("machineConfigurationInput")) or "")
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
            return f"{name}{digest(typ, name)[:8]}", {**inputs, "stdout": "", "stderr": ""}
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
            # interface names and the MACs stay empty (`vm/network/network.go`). `pool_id` is
            # read back from the pools the token may audit (vmReadCustom: findPoolForVM), so it
            # is the pool the VM was created in, "" when none (dvPoolID).
            return str(inputs.get("vmId")), {
                **inputs,
                "poolId": inputs.get("poolId", ""),
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
            raw = raw_bytes(int(inputs.get("length", 16)), "password", name)
            result = secret("".join(alphabet[b % len(alphabet)] for b in raw))
            return "none", {
                **inputs,
                "result": result,
                "bcryptHash": secret("$2a$10$" + digest("bcrypt", name)[:53]),
            }
        if typ == "random:index/randomBytes:RandomBytes":
            # pulumi/pulumi-random `randomBytes`: `length` random bytes as base64 and hex, and
            # the id is the base64 value itself (`provider/resources.go`, computeRandomBytesID):
            # never use it for a secret.
            raw = raw_bytes(int(inputs.get("length", 32)), "random", name)
            return base64.b64encode(raw).decode(), {
                **inputs,
                "base64": secret(base64.b64encode(raw).decode()),
                "hex": secret(raw.hex()),
            }
        if typ == "random:index/randomId:RandomId":
            # pulumi/pulumi-random `randomId` (terraform-provider-random `id.go`): the id is
            # the URL-safe base64 form; hex, decimal and both base64 forms are outputs.
            raw = raw_bytes(int(inputs.get("byteLength", 8)), "random-id", name)
            b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            return b64_url, {
                **inputs,
                "b64Std": base64.b64encode(raw).decode(),
                "b64Url": b64_url,
                "dec": str(int.from_bytes(raw, "big")),
                "hex": raw.hex(),
            }
        if typ.startswith("cloudflare:"):
            return cloudflare.resource(typ, name, inputs, self.tunnel_secrets)
        if typ.startswith("kubernetes:") and not typ.startswith("kubernetes:helm.sh"):
            # pulumi-kubernetes `provider/pkg/provider/provider.go` Create: the id is
            # `fqObjName` of the object, `<namespace>/<name>` or the bare name of a
            # cluster-scoped one; the outputs are the inputs with the live object's fields.
            # A `<Kind>Patch` (kinds.IsPatchResource) answers the same: its id names the object
            # it patched.
            metadata = inputs.get("metadata") or {}
            if isinstance(metadata, dict) and metadata.get("name"):
                namespace = metadata.get("namespace")
                object_id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
                return str(object_id), inputs
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
        if token.startswith("cloudflare:"):
            answer = cloudflare.call(token, dict(a), self.tunnel_secrets)
            if answer is not None:
                return answer
        return a
