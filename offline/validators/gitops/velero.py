"""The Velero add-on against the stack it backs up to and what the program creates for it.

The tree names the stack's R2 bucket and endpoint in `gitops/platform/envs/<env>/velero.yaml`;
the program creates that bucket, its credential and Velero's Secrets from `Pulumi.<env>.yaml`
(`backup`, `cloudflare.account_id`; components/backup). Nothing else notices when the two drift
apart until the first backup fails, so:

- the BackupStorageLocation `default` (the default one) is the stack's bucket (`backup.bucket`)
  under the prefix `velero/`, at the stack's R2 endpoint (`BackupConfig.s3_endpoint`: the
  account, and the jurisdiction as a subdomain), with provider `aws`, region `auto` and
  path-style addressing, and no credential of its own (the server's, the program's Secret);
- Velero runs in the program's namespace `velero` with the program's Secret `velero-r2`;
- no VolumeSnapshotLocation: R2 and these clusters have no volume snapshots (the volumes are
  backed up by the node agent, file by file), and one would fail every backup that used it;
- a stack without `backup` has no bucket and no Secrets for Velero;
- the node agent reads a ConfigMap (`--node-agent-configmap`) that the chart renders, with one
  key of JSON whose `podResources` Velero accepts and that requests memory: the data-mover pods
  it creates run with those resources (BestEffort otherwise, which the capacity check could not
  count: velero_pods.py), and a node agent whose ConfigMap is missing or unreadable does not
  start (vmware-tanzu/velero v1.18.1 pkg/cmd/cli/nodeagent/server.go, getDataPathConfigs).
"""

from __future__ import annotations

from typing import Any

from components.backup.names import VELERO_CREDENTIALS, VELERO_NAMESPACE, VELERO_PREFIX
from config.errors import NAMESPACE

from . import charts, velero_config
from .schemas import describe
from .stack import StackPlatform
from .tree import Problem, RenderedObject

VELERO_CHART = "velero"
#: The BackupStorageLocation every backup uses unless it names another (Velero's
#: `--default-backup-storage-location`, default `default`).
LOCATION = "default"
#: How the aws plugin reaches R2 (velero-io/velero-plugin-for-aws backupstoragelocation.md):
#: R2 has one region, `auto`, and is addressed path-style at the account's endpoint.
PROVIDER = "aws"
R2_CONFIG = {"region": "auto", "s3ForcePathStyle": "true"}
VALUES_FILE = "velero.yaml"


def velero_problems(
    item: RenderedObject,
    source: charts.HelmSource,
    stack: StackPlatform,
    rendered: dict[str, list[RenderedObject]],
    folder: str,
) -> list[Problem]:
    """Every disagreement of the Velero add-on (`item`, its Helm `source`) with the stack and the
    program. `folder` is the environment's platform folder, whose `velero.yaml` sets the values."""
    patch = f"{folder}/{VALUES_FILE}"
    name = describe(item.manifest)
    values = source.values_field
    problems: list[Problem] = []

    def add(field: str, message: str, where: str = patch) -> None:
        problems.append(Problem(where, name, field, message))

    if stack.backup is None:
        add(
            "spec.source.chart",
            f"{stack.file} has no {NAMESPACE}:backup: the program then creates no bucket and no "
            f"Secret {VELERO_CREDENTIALS} for Velero; add the section (docs/recovery.md) or "
            f"remove the add-on from {folder}",
        )
    if source.namespace != VELERO_NAMESPACE:
        add(
            "spec.destination.namespace",
            f"must be {VELERO_NAMESPACE!r}: the namespace (Pod Security privileged, for the node "
            f"agent) and the Secrets the program creates for Velero are there",
            item.origin,
        )
    credentials = source.values.get("credentials") or {}
    if credentials.get("useSecret") is not True or (
        credentials.get("existingSecret") != VELERO_CREDENTIALS
    ):
        add(
            f"{values}.credentials",
            f"must be useSecret: true, existingSecret: {VELERO_CREDENTIALS!r}: the R2 "
            f"credentials are the Secret the program writes (key `cloud`), found useSecret: "
            f"{credentials.get('useSecret')!r}, existingSecret: "
            f"{credentials.get('existingSecret')!r}",
            item.origin,
        )
    rendered_objects = rendered.get(source.key, [])
    if not rendered_objects:
        return problems  # did not render: charts.source_problems says why
    entries = (source.values.get("configuration") or {}).get("backupStorageLocation") or []
    locations = [o for o in rendered_objects if o.manifest.get("kind") == "BackupStorageLocation"]
    default = [o for o in locations if (o.manifest.get("spec") or {}).get("default") is True]
    if not any(o.manifest["metadata"].get("name") == LOCATION for o in default):
        add(
            f"{values}.configuration.backupStorageLocation",
            f"no BackupStorageLocation {LOCATION!r} with default: true: the schedules and "
            "manual backups would have nowhere to go",
        )
    for obj in locations:
        location = str(obj.manifest["metadata"].get("name"))
        index = next(
            (
                i
                for i, entry in enumerate(entries)
                if isinstance(entry, dict) and str(entry.get("name") or LOCATION) == location
            ),
            None,
        )
        at = f"{values}.configuration.backupStorageLocation"
        at += f"[{index}]" if index is not None else ""
        if stack.backup is not None:
            problems += [
                Problem(patch, name, f"{at}.{key}", message)
                for key, message in _location_problems(obj.manifest, stack)
            ]
    for message in data_mover_problems(rendered_objects):
        add(f"{values}.nodeAgent.extraArgs", message, item.origin)
    for obj in rendered_objects:
        if obj.manifest.get("kind") == "VolumeSnapshotLocation":
            add(
                f"{values}.snapshotsEnabled",
                f"renders {describe(obj.manifest)}: neither R2 nor the Proxmox CSI plugin of "
                "these clusters takes volume snapshots (the node agent backs the volumes up, "
                "file by file); set snapshotsEnabled: false",
                item.origin,
            )
    return problems


def _location_problems(manifest: dict[str, Any], stack: StackPlatform) -> list[tuple[str, str]]:
    """(values key below the location's entry, message) for one rendered BackupStorageLocation."""
    assert stack.backup is not None
    spec = manifest.get("spec") or {}
    storage = spec.get("objectStorage") or {}
    config = spec.get("config") or {}
    found = []

    def differs(key: str, actual: Any, expected: str, what: str) -> None:
        if actual != expected:
            found.append(
                (key, f"{actual!r}, but {what} is {expected!r} ({stack.file}): {_consequence(key)}")
            )

    differs(
        "bucket",
        storage.get("bucket"),
        stack.backup.bucket,
        f"the stack's {NAMESPACE}:backup.bucket",
    )
    differs(
        "config.s3Url",
        config.get("s3Url"),
        stack.backup.endpoint,
        f"the R2 endpoint of the stack's {NAMESPACE}:cloudflare.account_id and backup.jurisdiction",
    )
    if storage.get("prefix") != VELERO_PREFIX:
        found.append(
            (
                "prefix",
                f"{storage.get('prefix')!r}, must be {VELERO_PREFIX!r}: the program's lifecycle "
                f"rules leave {VELERO_PREFIX}/ alone and expire the etcd snapshots beside it "
                "(components/backup)",
            )
        )
    if spec.get("provider") != PROVIDER:
        found.append(("provider", f"{spec.get('provider')!r}, must be {PROVIDER!r} (R2 is S3)"))
    for key, expected in R2_CONFIG.items():
        if config.get(key) != expected:
            found.append((f"config.{key}", f"{config.get(key)!r}, must be {expected!r} for R2"))
    if spec.get("credential"):
        found.append(
            (
                "credential",
                f"must not be set: the location uses the server's credentials, the program's "
                f"Secret {VELERO_CREDENTIALS}",
            )
        )
    return found


def _consequence(key: str) -> str:
    if key == "bucket":
        return "the program creates that bucket and a token for it alone; Velero could not write"
    return "Velero would reach another account's, or no, bucket"


def data_mover_problems(objects: list[RenderedObject]) -> list[str]:
    """Why the data movers of the chart's node agent (`objects`: the chart's render) would not
    have the resources the capacity check counts, or the node agent would not start."""
    render = {"chart": objects}
    found = []
    for velero in velero_config.servers(render):
        if velero.agent is None:
            continue
        config, why = velero_config.node_agent_config(
            velero, velero_config.config_maps(render, velero.namespace)
        )
        if why is not None:
            found.append(f"{why}: the node agent does not start")
            continue
        if not config:
            found.append(
                "no --node-agent-configmap: the node agent's data-mover pods run BestEffort "
                "(no requests), which the capacity check cannot count; name the ConfigMap "
                "(configMaps) whose podResources size them"
            )
            continue
        resources = velero_config.parse_pod_resources(config.get("podResources"))
        if "memory" not in resources.resources.get("requests", {}):
            found.append(
                f"the node agent's ConfigMap gives its data-mover pods no memory request "
                f"({resources.note}): they run without one, which the capacity check cannot "
                "count; set podResources with cpuRequest, memoryRequest, cpuLimit and "
                'memoryLimit ("0": none)'
            )
    return found
