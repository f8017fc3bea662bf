"""What a recovery needs to know about a stack, read from its plan document (`offline/graph.py`,
`plan_document`): the nodes and their addresses, the control-plane endpoint, the node the
program bootstraps, the bucket, and the URNs a targeted `pulumi refresh` or `pulumi up` names.

The plan comes from the offline run of the program (`stack_plan`, in-process: the program under
Pulumi's mock runtime, no checks) or from a recorded JSON plan (`load_plan_file`,
`python -m offline.plan --stack S --format json`). Secret outputs are `[secret]` in both
(`offline/run.py`, `_resolve_outputs`): nothing here reads, or could print, a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from offline.plan_diff import PlanFileError, load_plan
from offline.stackfile import StackFileError, read_stack_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

VM = "proxmoxve:index/vmLegacy:VmLegacy"
IMAGE_FILE = "proxmoxve:download/file:File"
CONFIG_APPLY = "talos:machine/configurationApply:ConfigurationApply"
BOOTSTRAP = "talos:machine/bootstrap:Bootstrap"
MACHINE_SECRETS = "talos:machine/secrets:Secrets"
COMMAND = "command:local:Command"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
KUBE_NAMESPACE = "kubernetes:core/v1:Namespace"
KUBE_SECRET = "kubernetes:core/v1:Secret"
KUBE_CONFIGMAP = "kubernetes:core/v1:ConfigMap"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
MACHINE_CONFIGURATION = "talos:machine/getConfiguration:getConfiguration"
SECRET = "[secret]"


class RecoverError(Exception):
    """The recovery cannot be planned; the message says why, `exit_code` is 1 or 2."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    role: str
    """`controlplane` or `worker`."""
    host: str
    """The Proxmox host its VM runs on."""
    vm: str
    """URN of its VM (`proxmoxve:index/vmLegacy:VmLegacy`)."""
    apply: str
    """URN of its Talos configuration apply."""
    exit: str
    """URN of its exit step (`talos-<node>-exit`, components/talos/lifecycle.py)."""

    @property
    def control_plane(self) -> bool:
        return self.role == "controlplane"


@dataclass(frozen=True)
class Backup:
    """The stack output `backup` (components/backup): where the backups are."""

    bucket: str
    account_id: str
    jurisdiction: str
    s3_endpoint: str
    etcd_prefix: str
    velero_prefix: str
    cluster_name: str

    @property
    def snapshot_prefix(self) -> str:
        """The keys of this cluster's etcd snapshots start with it: talos-backup uploads
        `<S3_PREFIX>/<cluster>-<RFC3339 time>.snap.age` (siderolabs/talos-backup v0.1.0-beta.3
        `pkg/talos/talos.go` names the file, `pkg/encryption/encryption.go` adds `.age`,
        `pkg/s3/s3.go` the prefix)."""
        return f"{self.etcd_prefix}/{self.cluster_name}-"


@dataclass(frozen=True)
class ProgramNamespace:
    """A namespace the program creates (not Argo CD), or puts objects in, with those
    objects."""

    name: str
    urn: str | None
    """Its Namespace resource; None when the program only puts objects in it."""
    objects: tuple[str, ...]
    """URNs of the program's objects in it: Secrets, ConfigMaps, and whatever else it puts
    there (cloudflared's Deployment, Service and PodDisruptionBudget; a Helm release)."""


@dataclass(frozen=True)
class RootApplication:
    name: str
    namespace: str
    urn: str
    path: str
    """The GitOps path it follows (`gitops/envs/<env>`)."""
    revision: str


@dataclass(frozen=True)
class Facts:
    stack: str
    project: str
    cluster_name: str
    endpoint: str
    """The Kubernetes API endpoint (the control planes' VIP)."""
    nodes: tuple[Node, ...]
    bootstrap: Node
    """The control plane the program's Bootstrap resource bootstrapped."""
    images: dict[str, str]
    """Proxmox host -> URN of its Talos image file."""
    root: RootApplication
    namespaces: dict[str, ProgramNamespace]
    backup: Backup | None
    outputs: frozenset[str]
    """Names of the stack's outputs (secret ones included, their values redacted)."""

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.control_plane)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise RecoverError(f"no node {name!r} in stack {self.stack} (nodes: {known})", EXIT_USAGE)

    def require_backup(self, scenario: str) -> Backup:
        if self.backup is None:
            raise RecoverError(
                f"{scenario} needs the stack output `backup` (the bucket of the etcd snapshots), "
                f"which the plan of {self.stack} does not have: plan the program of issue 14 or "
                "later (components/backup)"
            )
        if "backup_s3_credentials" not in self.outputs:
            raise RecoverError(
                f"{scenario} needs the secret stack output `backup_s3_credentials`, which the "
                f"plan of {self.stack} does not have"
            )
        return self.backup


# --- Reading the plan ---------------------------------------------------------------------------


def stack_plan(stack: str) -> dict[str, Any]:
    """The plan document of `Pulumi.<stack>.yaml`, from the program run in-process under the mock
    runtime (as `python -m offline.plan`, without its checks)."""
    # Imported here: the SDKs take about two seconds to import, and `--plan` needs none of them.
    from offline.graph import plan_document
    from offline.run import run_program

    try:
        values = read_stack_config(stack)
    except StackFileError as exc:
        usage = "no such file" in str(exc) or "cannot be read" in str(exc)
        raise RecoverError(str(exc), EXIT_USAGE if usage else EXIT_FAILED) from None
    try:
        run = run_program(values.values, values.secret_keys, stack)
    except ConfigError as exc:
        raise RecoverError(str(exc)) from None
    return plan_document(run)


def load_plan_file(path: Path) -> dict[str, Any]:
    try:
        return load_plan(path)
    except PlanFileError as exc:
        raise RecoverError(str(exc), exc.exit_code) from None


def _by_type(doc: dict[str, Any], token: str) -> list[dict[str, Any]]:
    return [r for r in doc["resources"] if r.get("type") == token]


def _inputs(resource: dict[str, Any]) -> dict[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _metadata(resource: dict[str, Any]) -> dict[str, Any]:
    metadata = _inputs(resource).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _one(found: list[dict[str, Any]], what: str, stack: str) -> dict[str, Any]:
    if len(found) != 1:
        raise RecoverError(f"the plan of {stack} has {len(found)} {what}, expected one")
    return found[0]


def _nodes(doc: dict[str, Any], stack: str) -> tuple[Node, ...]:
    raw = doc.get("outputs", {}).get("nodes")
    if not isinstance(raw, dict) or not raw:
        raise RecoverError(f"the plan of {stack} has no stack output `nodes`")
    vms = {r["name"]: r["urn"] for r in _by_type(doc, VM)}
    applies = {_inputs(r).get("node"): r["urn"] for r in _by_type(doc, CONFIG_APPLY)}
    exits = {
        _inputs(r).get("environment", {}).get("NODE_NAME"): r["urn"]
        for r in _by_type(doc, COMMAND)
        if "delete" in _inputs(r) and isinstance(_inputs(r).get("environment"), dict)
    }
    nodes = []
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not {"ip", "role", "host"} <= set(entry):
            raise RecoverError(f"the plan of {stack}: outputs.nodes.{name}: no ip, role and host")
        ip = str(entry["ip"])
        missing = [
            what
            for what, found in (("VM", name in vms), ("configuration apply", ip in applies))
            if not found
        ]
        if missing:
            raise RecoverError(f"the plan of {stack} has no {' and no '.join(missing)} of {name}")
        nodes.append(
            Node(
                name=name,
                ip=ip,
                role=str(entry["role"]),
                host=str(entry["host"]),
                vm=vms[name],
                apply=applies[ip],
                exit=exits.get(name, ""),
            )
        )
    return tuple(nodes)


def _cluster_name(doc: dict[str, Any], backup: Backup | None, stack: str) -> str:
    if backup is not None:
        return backup.cluster_name
    for call in doc.get("invokes", []):
        if call.get("token") == MACHINE_CONFIGURATION and call.get("args", {}).get("clusterName"):
            return str(call["args"]["clusterName"])
    raise RecoverError(f"the plan of {stack} names no cluster (no Talos machine configuration)")


def _backup(doc: dict[str, Any], stack: str) -> Backup | None:
    raw = doc.get("outputs", {}).get("backup")
    if raw is None:
        return None
    fields = list(Backup.__dataclass_fields__)
    if not isinstance(raw, dict) or not set(fields) <= set(raw):
        raise RecoverError(
            f"the plan of {stack}: the output `backup` must hold {', '.join(fields)}"
        )
    return Backup(**{f: str(raw[f]) for f in fields})


def _root(doc: dict[str, Any], stack: str) -> RootApplication:
    # The one Application the program creates: the app-of-apps (components/argocd/root_app.py).
    root = _one(_by_type(doc, APPLICATION), "Argo CD Applications", stack)
    metadata = _metadata(root)
    source = (_inputs(root).get("spec") or {}).get("source") or {}
    return RootApplication(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        urn=root["urn"],
        path=str(source.get("path", "")),
        revision=str(source.get("targetRevision", "")),
    )


def _program_namespaces(doc: dict[str, Any]) -> dict[str, ProgramNamespace]:
    objects: dict[str, list[str]] = {}
    for r in doc["resources"]:
        token = str(r.get("type", ""))
        if not token.startswith("kubernetes:") or token == KUBE_NAMESPACE:
            continue
        # A Helm release names its namespace beside its chart, every other object in metadata.
        namespace = _metadata(r).get("namespace") or (
            _inputs(r).get("namespace") if token == HELM_RELEASE else None
        )
        if isinstance(namespace, str) and namespace:
            objects.setdefault(namespace, []).append(r["urn"])
    out = {
        name: ProgramNamespace(name, None, tuple(sorted(urns))) for name, urns in objects.items()
    }
    for r in _by_type(doc, KUBE_NAMESPACE):
        name = _metadata(r).get("name")
        if isinstance(name, str):
            out[name] = ProgramNamespace(name, r["urn"], tuple(sorted(objects.get(name, []))))
    return out


def facts_of(doc: dict[str, Any]) -> Facts:
    """The facts of a plan document; RecoverError when it lacks one."""
    stack = str(doc.get("stack", ""))
    nodes = _nodes(doc, stack)
    backup = _backup(doc, stack)
    bootstrap_ip = _inputs(_one(_by_type(doc, BOOTSTRAP), "Talos bootstraps", stack)).get("node")
    bootstrap = next((n for n in nodes if n.ip == bootstrap_ip), None)
    if bootstrap is None:
        raise RecoverError(f"the plan of {stack} bootstraps {bootstrap_ip}, which is no node")
    endpoint = doc.get("outputs", {}).get("kubernetes_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise RecoverError(f"the plan of {stack} has no stack output `kubernetes_endpoint`")
    images = {
        str(_inputs(r).get("nodeName")): r["urn"]
        for r in _by_type(doc, IMAGE_FILE)
        if _inputs(r).get("nodeName")
    }
    return Facts(
        stack=stack,
        project=str(doc.get("project", "")),
        cluster_name=_cluster_name(doc, backup, stack),
        endpoint=endpoint,
        nodes=nodes,
        bootstrap=bootstrap,
        images=images,
        root=_root(doc, stack),
        namespaces=_program_namespaces(doc),
        backup=backup,
        outputs=frozenset(doc.get("outputs", {})),
    )


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "SECRET",
    "Backup",
    "Facts",
    "Node",
    "ProgramNamespace",
    "RecoverError",
    "RootApplication",
    "facts_of",
    "load_plan_file",
    "stack_plan",
]
