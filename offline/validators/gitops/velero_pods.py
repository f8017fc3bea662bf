"""What Velero starts at run time from the Schedules the tree renders, as far as the capacity
check needs it: the data-mover pods of a file-system backup and the kopia maintenance Jobs.

Neither is in Git or in the chart: Velero creates them while a backup runs and after it. Without
them "fits on the nodes" would leave out the largest pods a backup brings (kopia's memory), so
the environment's render gets, beside each velero.io `Schedule`, Jobs standing for those pods
(key `velero (Schedule velero/<name>)`), which the scheduling check places like a CronJob's run:
after the long-running pods, and in a drain neither waited for nor placed again. Built the way
vmware-tanzu/velero v1.18.1 builds them:

- **data movers**: the server creates a PodVolumeBackup for each volume of each pod it backs up
  with the file-system backup, and the node agent of the pod's node creates for each one a
  "hosting pod" in Velero's namespace that runs kopia (pkg/controller/
  pod_volume_backup_controller.go, `setupExposeParam`; pkg/exposer/pod_volume.go,
  `createHostingPod`): the node agent's image and ServiceAccount, `nodeName` the backed-up
  pod's node, and as resources the `podResources` of the node agent's ConfigMap
  (`--node-agent-configmap`; pkg/types/node_agent.go, `NodeAgentConfigs`; pkg/cmd/cli/nodeagent/
  server.go parses them with pkg/util/kube/resource_requirements.go,
  `ParseResourceRequirements`: all four must parse, a request must not exceed its limit, "0" is
  none; otherwise the section is ignored and the pods are BestEffort). One Job per volume of
  each workload, `parallelism` its replicas. The real pod skips the scheduler (`nodeName`), and
  the kubelet of the backed-up pod's node rejects it when its requests do not fit there; so the
  model must go next to the backed-up pod: a required podAffinity on that pod's labels (in its
  namespace) with topologyKey `kubernetes.io/hostname` (a bound Pod: a nodeSelector on its
  node's hostname), plus that pod's node selector, node affinity and tolerations, so that no
  taint or selector the kubelet does not check for a bound pod keeps it off that node. The
  backed-up pods are placed first (the Jobs' pods come last, scheduling/scheduler.py), and a data
  mover that does not fit beside one fails the plan. Left over: with several replicas, each data
  mover goes next to some replica, not necessarily its own (two may share one replica's node);
  and a NoExecute taint the backed-up pod tolerates is counted as tolerated (the kubelet would
  reject the data mover, which tolerates only Velero's third-party keys). All of a backup's data
  movers are counted at once (Velero creates them all and lets the node agent's concurrency, one
  per node by default, hold them waiting: file-system-backup.md, "Parallelism").
- **kopia maintenance**: one Job per backup repository, i.e. per backed-up namespace (that has a
  volume) and storage location, from the server's image and ServiceAccount, with the
  `podResources` of the repository's key (`<namespace>-<location>-kopia`) or `global` in the
  ConfigMap of the server's `--repo-maintenance-job-configmap` (pkg/repository/maintenance/
  maintenance.go, `buildJob`, `getJobConfig`; none there: no requests), tolerating only what the
  server's pod tolerates of Velero's third-party keys (`buildTolerationsForMaintenanceJob`): a
  normal Job, placed by the scheduler.

Which volumes (pkg/util/podvolume/pod_volume.go, GetVolumesByPod; the volume policy): the claims
of the pod (its `persistentVolumeClaim` volumes and a StatefulSet's claim templates) of the
Deployments, StatefulSets and bound Pods in the Schedule's namespaces (`includedNamespaces`, `*`
or none: all; less `excludedNamespaces`; an object without a namespace is in the destination of
the Application that follows its folder); all of them when `defaultVolumesToFsBackup` (the
template's, else the
server's `--default-volumes-to-fs-backup`) is on, less the pod annotation
`backup.velero.io/backup-volumes-excludes`; else those the annotation
`backup.velero.io/backup-volumes` names. Not modelled: other volume types (an emptyDir is
skipped by the tree's volume policy; configMap, secret, projected and hostPath volumes are never
backed up), a volume policy that skips a claim (counted anyway: the check errs on the side of
more pods), label selectors, the pods of DaemonSets and Jobs, HPA replicas beyond
`spec.replicas`, a restore's data movers (a restore is an operator's action, docs/recovery.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .tree import RenderedObject

API_GROUP = "velero.io"
#: The velero binary's path in its image: how the server's Deployment and the node agent's
#: DaemonSet are recognised (their command), with their first arguments.
VELERO_COMMAND = ["/velero"]
SERVER_ARGS = ["server"]
NODE_AGENT_ARGS = ["node-agent", "server"]
NODE_AGENT_CONFIG_FLAG = "--node-agent-configmap="
MAINTENANCE_CONFIG_FLAG = "--repo-maintenance-job-configmap="
DEFAULT_FS_BACKUP_FLAG = "--default-volumes-to-fs-backup"
#: The repository key's uploader type (pkg/repository/maintenance, getJobConfig:
#: `<volume namespace>-<location>-<repository type>`) and the ConfigMap's global key.
REPOSITORY_TYPE = "kopia"
GLOBAL_KEY = "global"
#: Pod annotations (pkg/util/podvolume/pod_volume.go).
VOLUMES_TO_BACKUP = "backup.velero.io/backup-volumes"
VOLUMES_TO_EXCLUDE = "backup.velero.io/backup-volumes-excludes"
#: The label of a hosting pod (pkg/apis/velero/v1/labels_annotations.go, PVBLabel) and of a
#: maintenance Job (pkg/repository/maintenance, RepositoryNameLabel).
PVB_LABEL = "velero.io/pod-volume-backup"
REPOSITORY_LABEL = "velero.io/repo-name"
#: Velero's third-party toleration keys a maintenance Job inherits from the server
#: (pkg/util/third_party.go, ThirdPartyTolerations).
THIRD_PARTY_TOLERATIONS = ("kubernetes.azure.com/scalesetpriority", "CriticalAddonsOnly")
#: A maintenance Job always tolerates Windows nodes (buildTolerationsForMaintenanceJob).
WINDOWS_TOLERATION = {"key": "os", "operator": "Equal", "effect": "NoSchedule", "value": "windows"}
MODELLED = {"app.kubernetes.io/managed-by": "velero"}
NAME_LIMIT = 63


@dataclass(frozen=True)
class Velero:
    """A Velero server of the environment and its node agent: what their pods say."""

    namespace: str
    server: dict[str, Any]
    """The server's pod spec."""
    server_args: list[str]
    agent: dict[str, Any] | None
    """The node agent's pod spec (None: no node agent, no file-system backup)."""
    agent_args: list[str]


@dataclass(frozen=True)
class PodResources:
    """The resources of Velero's `podResources` (or why there are none)."""

    resources: dict[str, dict[str, str]]
    note: str


def _container(spec: dict[str, Any], args: list[str]) -> dict[str, Any] | None:
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        given = [str(a) for a in container.get("args") or []]
        if container.get("command") == VELERO_COMMAND and given[: len(args)] == args:
            return container
    return None


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}


def servers(rendered: dict[str, list[RenderedObject]]) -> list[Velero]:
    """Every Velero server Deployment of a rendered environment, with its namespace's node
    agent."""
    deployments, agents = [], {}
    for items in rendered.values():
        for item in items:
            manifest = item.manifest
            namespace = str((manifest.get("metadata") or {}).get("namespace") or "")
            spec = _pod_spec(manifest)
            if manifest.get("kind") == "Deployment":
                container = _container(spec, SERVER_ARGS)
                if container is not None:
                    deployments.append((namespace, spec, container))
            elif manifest.get("kind") == "DaemonSet":
                container = _container(spec, NODE_AGENT_ARGS)
                if container is not None:
                    agents[namespace] = (spec, container)
    found = []
    for namespace, spec, container in deployments:
        agent_spec, agent_container = agents.get(namespace, (None, None))
        found.append(
            Velero(
                namespace=namespace,
                server=spec,
                server_args=[str(a) for a in container.get("args") or []],
                agent=agent_spec,
                agent_args=[str(a) for a in (agent_container or {}).get("args") or []],
            )
        )
    return found


def _flag(args: list[str], prefix: str) -> str | None:
    values = [arg.removeprefix(prefix) for arg in args if arg.startswith(prefix)]
    return values[-1] if values else None


def _bool_flag(args: list[str], name: str) -> bool:
    """A boolean flag as pflag reads it: `--name`, `--name=true` (the last one wins)."""
    value = None
    for arg in args:
        if arg == name:
            value = True
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1].lower() in ("true", "1", "t")
    return bool(value)


def config_maps(rendered: dict[str, list[RenderedObject]], namespace: str) -> dict[str, dict]:
    """The ConfigMaps of `namespace` in the render, by name."""
    return {
        str(item.manifest["metadata"].get("name")): item.manifest
        for items in rendered.values()
        for item in items
        if item.manifest.get("kind") == "ConfigMap"
        and (item.manifest.get("metadata") or {}).get("namespace") == namespace
    }


def node_agent_config(
    velero: Velero, maps: dict[str, dict]
) -> tuple[dict[str, Any] | None, str | None]:
    """(the node agent's configuration, None) or (None, why there is none or it cannot be
    read), as pkg/nodeagent/node_agent.go `GetConfigs` reads it: the ConfigMap the node agent's
    `--node-agent-configmap` names, exactly one key, its value JSON. No flag: ({}, None)."""
    name = _flag(velero.agent_args, NODE_AGENT_CONFIG_FLAG)
    if not name:
        return {}, None
    configmap = maps.get(name)
    if configmap is None:
        return (
            None,
            f"--node-agent-configmap names ConfigMap {velero.namespace}/{name}, not rendered",
        )
    data = configmap.get("data") or {}
    if len(data) != 1:
        return (
            None,
            f"ConfigMap {velero.namespace}/{name} has {len(data)} keys: the node agent reads "
            "exactly one",
        )
    (text,) = data.values()
    try:
        config = json.loads(str(text))
    except ValueError as exc:
        return None, f"ConfigMap {velero.namespace}/{name} is no JSON: {exc}"
    if not isinstance(config, dict):
        return None, f"ConfigMap {velero.namespace}/{name} is no JSON object"
    return config, None


def parse_pod_resources(section: Any) -> PodResources:
    """Velero's `podResources` as a container's resources, the way
    pkg/util/kube/resource_requirements.go `ParseResourceRequirements` reads them: cpuRequest,
    memoryRequest, cpuLimit and memoryLimit (ephemeral storage "0" unless given) must each be a
    quantity, a request no larger than its limit unless the limit is "0"; a quantity of "0" is
    left unset. Otherwise nothing (the caller's default: BestEffort for a data mover)."""
    from ..scheduling.quantities import QuantityError, cpu_millis, memory_bytes

    if not isinstance(section, dict):
        return PodResources({}, "no podResources: BestEffort")
    fields = {
        ("requests", "cpu"): ("cpuRequest", cpu_millis),
        ("requests", "memory"): ("memoryRequest", memory_bytes),
        ("requests", "ephemeral-storage"): ("ephemeralStorageRequest", memory_bytes),
        ("limits", "cpu"): ("cpuLimit", cpu_millis),
        ("limits", "memory"): ("memoryLimit", memory_bytes),
        ("limits", "ephemeral-storage"): ("ephemeralStorageLimit", memory_bytes),
    }
    values: dict[tuple[str, str], tuple[str, int]] = {}
    for (part, resource), (key, parse) in fields.items():
        text = section.get(key)
        if resource == "ephemeral-storage" and not text:
            text = "0"  # constant.DefaultEphemeralStorage{Request,Limit}
        if not isinstance(text, str) or not _is_quantity(text):
            return PodResources(
                {}, f"podResources.{key} {text!r} is no quantity: ignored, BestEffort"
            )
        try:
            values[(part, resource)] = (text, parse(text))
        except QuantityError:
            return PodResources(
                {}, f"podResources.{key} {text!r} is no quantity: ignored, BestEffort"
            )
    for resource in ("cpu", "memory", "ephemeral-storage"):
        request, limit = values[("requests", resource)], values[("limits", resource)]
        if limit[1] != 0 and request[1] > limit[1]:
            return PodResources(
                {},
                f"podResources: {resource} request {request[0]!r} above its limit {limit[0]!r}: "
                "all ignored",
            )
    resources: dict[str, dict[str, str]] = {}
    for (part, resource), (text, amount) in values.items():
        if amount != 0:
            resources.setdefault(part, {})[resource] = text
    return PodResources(resources, "podResources")


#: Kubernetes' quantity grammar (k8s.io/apimachinery resource.ParseQuantity): an empty string is
#: none, unlike for the scheduling check's own parser, which reads numbers too.
_QUANTITY = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|m|[kMGTPE]i?)?$")


def _is_quantity(text: str) -> bool:
    return bool(_QUANTITY.match(text))


def _job_config(maps: dict[str, dict], name: str | None, key: str) -> PodResources:
    """The maintenance Job's resources for a repository key (pkg/repository/maintenance,
    getJobConfig): the key's podResources, else the global key's; none without the ConfigMap."""
    if not name or name not in maps:
        return PodResources({}, "no maintenance ConfigMap: no requests")
    data = maps[name].get("data") or {}
    for candidate in (key, GLOBAL_KEY):
        if candidate not in data:
            continue
        try:
            config = json.loads(str(data[candidate]))
        except ValueError:
            return PodResources({}, f"ConfigMap {name} key {candidate} is no JSON")
        if isinstance(config, dict) and config.get("podResources") is not None:
            # buildJob: a failed parse fails the Job's creation; counted as none here.
            return parse_pod_resources(config["podResources"])
    return PodResources({}, "no podResources: no requests")


def _name(*parts: str) -> str:
    """A DNS label from `parts`, cut with a hash when longer than 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: NAME_LIMIT - 9].rstrip('-')}-{digest}"


def _included(namespace: str, template: dict[str, Any]) -> bool:
    included = [str(n) for n in template.get("includedNamespaces") or []]
    excluded = [str(n) for n in template.get("excludedNamespaces") or []]
    if namespace in excluded or "*" in excluded:
        return False
    return not included or "*" in included or namespace in included


def _replicas(manifest: dict[str, Any]) -> int:
    if manifest.get("kind") == "Pod":
        return 1
    value = (manifest.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _pod_of(manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod spec, pod annotations) of a Pod or of a workload's pod template."""
    if manifest.get("kind") == "Pod":
        return manifest.get("spec") or {}, (manifest.get("metadata") or {}).get("annotations") or {}
    template = (manifest.get("spec") or {}).get("template") or {}
    return template.get("spec") or {}, (template.get("metadata") or {}).get("annotations") or {}


def backed_up_volumes(manifest: dict[str, Any], default_to_fs_backup: bool) -> list[str]:
    """The claim volumes of one workload's pod that a file-system backup copies (module
    docstring: opt-out with `defaultVolumesToFsBackup`, else opt-in)."""
    kind = manifest.get("kind")
    spec, annotations = _pod_of(manifest)
    claims = [
        str(v.get("name"))
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and v.get("persistentVolumeClaim")
    ]
    if kind == "StatefulSet":
        for template in (manifest.get("spec") or {}).get("volumeClaimTemplates") or []:
            name = str((template.get("metadata") or {}).get("name") or "")
            if name and name not in claims:
                claims.append(name)

    def listed(key: str) -> set[str]:
        return {v.strip() for v in str(annotations.get(key) or "").split(",") if v.strip()}

    if default_to_fs_backup:
        excluded = listed(VOLUMES_TO_EXCLUDE)
        return [c for c in claims if c not in excluded]
    wanted = listed(VOLUMES_TO_BACKUP)
    return [c for c in claims if c in wanted]


#: The node label the data mover's pod affinity keys on: the node itself.
HOSTNAME_LABEL = "kubernetes.io/hostname"


def _placement(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Where the data mover of a workload's pod goes: on that pod's node (a required podAffinity
    on its labels in its namespace, per hostname; a bound Pod's node by its hostname label),
    with its node selector, required node affinity and tolerations, so that the node takes the
    model as its kubelet takes the bound data mover."""
    pod, _ = _pod_of(manifest)
    out: dict[str, Any] = {}
    selector = {str(k): str(v) for k, v in (pod.get("nodeSelector") or {}).items()}
    affinity: dict[str, Any] = {}
    node_affinity = (pod.get("affinity") or {}).get("nodeAffinity")
    if node_affinity:
        affinity["nodeAffinity"] = json.loads(json.dumps(node_affinity))
    if manifest.get("kind") == "Pod":
        selector[HOSTNAME_LABEL] = str(pod.get("nodeName"))
    else:
        template = (manifest.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if labels:  # none: no pod of it would run (the selector must match them)
            term = {
                "labelSelector": {"matchLabels": {str(k): str(v) for k, v in labels.items()}},
                "namespaces": [namespace],
                "topologyKey": HOSTNAME_LABEL,
            }
            affinity["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    if selector:
        out["nodeSelector"] = selector
    if affinity:
        out["affinity"] = affinity
    if pod.get("tolerations"):
        out["tolerations"] = json.loads(json.dumps(pod["tolerations"]))
    return out


def _job(
    name: str,
    namespace: str,
    pods: int,
    labels: dict[str, str],
    pod: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {**MODELLED, **labels}},
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"restartPolicy": "Never", **pod},
            },
        },
    }


def _container_image(spec: dict[str, Any], args: list[str]) -> str:
    container = _container(spec, args) or {}
    return str(container.get("image") or "")


def _folder_namespaces(rendered: dict[str, list[RenderedObject]]) -> dict[str, str]:
    """The destination namespace of the Application that follows each folder of the render."""
    from .rendering import _local_source_path, _sources
    from .tree import GitOpsError

    found: dict[str, str] = {}
    for items in rendered.values():
        for item in items:
            if item.manifest.get("kind") != "Application":
                continue
            spec = item.manifest.get("spec") or {}
            destination = (spec.get("destination") or {}).get("namespace")
            for source in _sources(item.manifest):
                try:
                    folder = _local_source_path(source)
                except GitOpsError:
                    continue
                if folder is not None and destination:
                    found.setdefault(folder, str(destination))
    return found


def rendered_workloads(
    rendered: dict[str, list[RenderedObject]], skip: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, manifest) of the Deployments, StatefulSets and bound Pods of the render (not
    those of `skip` keys)."""
    folders = _folder_namespaces(rendered)
    found = []
    for key, items in rendered.items():
        if key in skip:
            continue
        for item in items:
            kind = item.manifest.get("kind")
            if kind in ("Deployment", "StatefulSet") or (
                kind == "Pod" and (item.manifest.get("spec") or {}).get("nodeName")
            ):
                namespace = (item.manifest.get("metadata") or {}).get("namespace")
                found.append((str(namespace or folders.get(key, "")), item.manifest))
    return found


def schedule_objects(
    schedule: dict[str, Any],
    velero: Velero,
    rendered: dict[str, list[RenderedObject]],
    repositories: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """The Jobs standing for one Schedule's data movers and the maintenance of its new
    repositories (`repositories`: those already modelled, updated)."""
    template = (schedule.get("spec") or {}).get("template") or {}
    schedule_name = str((schedule.get("metadata") or {}).get("name"))
    location = str(template.get("storageLocation") or "default")
    fs_backup = template.get("defaultVolumesToFsBackup")
    if fs_backup is None:
        fs_backup = _bool_flag(velero.server_args, DEFAULT_FS_BACKUP_FLAG)
    maps = config_maps(rendered, velero.namespace)
    made: list[dict[str, Any]] = []
    if velero.agent is None:
        return made  # no node agent: no file-system backup
    config, _ = node_agent_config(velero, maps)
    mover = parse_pod_resources((config or {}).get("podResources"))
    agent_image = _container_image(velero.agent, NODE_AGENT_ARGS)
    namespaces_with_volumes: list[str] = []
    skip = {k for k in rendered if k.startswith("velero (")}
    for namespace, manifest in rendered_workloads(rendered, skip):
        metadata = manifest.get("metadata") or {}
        if not namespace or not _included(namespace, template):
            continue
        replicas = _replicas(manifest)
        volumes = backed_up_volumes(manifest, bool(fs_backup))
        if not replicas or not volumes:
            continue
        if namespace not in namespaces_with_volumes:
            namespaces_with_volumes.append(namespace)
        placement = _placement(manifest, namespace)
        for volume in volumes:
            name = _name(schedule_name, namespace, str(metadata.get("name")), volume)
            spec: dict[str, Any] = {
                "serviceAccountName": str(velero.agent.get("serviceAccountName") or "default"),
                "securityContext": {"runAsUser": 0},
                "containers": [
                    {
                        "name": "data-mover",
                        "image": agent_image,
                        "command": ["/velero", "pod-volume", "backup"],
                        "resources": json.loads(json.dumps(mover.resources)),
                    }
                ],
                **json.loads(json.dumps(placement)),
            }
            made.append(_job(name, velero.namespace, replicas, {PVB_LABEL: name}, spec))
    maintenance = _flag(velero.server_args, MAINTENANCE_CONFIG_FLAG)
    server_image = _container_image(velero.server, SERVER_ARGS)
    tolerations = [dict(WINDOWS_TOLERATION)]
    given = [t for t in velero.server.get("tolerations") or [] if isinstance(t, dict)]
    for key in THIRD_PARTY_TOLERATIONS:  # the first of each key only
        tolerations += [t for t in given if t.get("key") == key][:1]
    for namespace in namespaces_with_volumes:
        if (namespace, location) in repositories:
            continue
        repositories.add((namespace, location))
        key = f"{namespace}-{location}-{REPOSITORY_TYPE}"
        resources = _job_config(maps, maintenance, key)
        name = _name(key, "maintain-job")
        spec = {
            "serviceAccountName": str(velero.server.get("serviceAccountName") or "default"),
            "containers": [
                {
                    "name": "velero-repo-maintenance-container",
                    "image": server_image,
                    "command": ["/velero"],
                    "args": ["repo-maintenance", f"--repo-name={namespace}"],
                    "resources": json.loads(json.dumps(resources.resources)),
                }
            ],
            "tolerations": json.loads(json.dumps(tolerations)),
        }
        if velero.server.get("securityContext"):
            spec["securityContext"] = json.loads(json.dumps(velero.server["securityContext"]))
        made.append(_job(name, velero.namespace, 1, {REPOSITORY_LABEL: name}, spec))
    return made


def managed_objects(rendered: dict[str, list[RenderedObject]]) -> dict[str, list[RenderedObject]]:
    """The Jobs standing for what Velero starts from each Schedule, by render key
    (`velero (Schedule velero/<name>)`), each with the file of the Schedule; empty without a
    Velero server in the Schedule's namespace."""
    by_namespace = {v.namespace: v for v in servers(rendered)}
    out: dict[str, list[RenderedObject]] = {}
    repositories: set[tuple[str, str]] = set()
    for items in list(rendered.values()):
        for item in items:
            manifest = item.manifest
            if manifest.get("kind") != "Schedule" or not str(
                manifest.get("apiVersion", "")
            ).startswith(f"{API_GROUP}/"):
                continue
            metadata = manifest.get("metadata") or {}
            velero = by_namespace.get(str(metadata.get("namespace") or ""))
            if velero is None:
                continue
            made = schedule_objects(manifest, velero, rendered, repositories)
            if made:
                key = f"velero (Schedule {metadata.get('namespace')}/{metadata.get('name')})"
                out[key] = [RenderedObject(manifest=m, origin=item.origin) for m in made]
    return out
