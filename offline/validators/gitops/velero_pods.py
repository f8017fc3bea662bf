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
  `createHostingPod`): the node agent's image and ServiceAccount, `nodeName` the backed-up pod's
  node, and as resources the `podResources` of the node agent's ConfigMap
  (`--node-agent-configmap`, read as Velero reads it: velero_config.py; none it would use:
  BestEffort). One Job per volume of each workload, `parallelism` its replicas. The real pod
  skips the scheduler (`nodeName`), and the kubelet of the backed-up pod's node rejects it when
  its requests do not fit there; so the model must go next to the backed-up pod: a required
  podAffinity on that pod's labels (in its namespace) with topologyKey `kubernetes.io/hostname`
  (a bound Pod: a nodeSelector on its node's hostname), plus that pod's node selector, node
  affinity and tolerations, so that no taint or selector the kubelet does not check for a bound
  pod keeps it off that node. The backed-up pods are placed first (the Jobs' pods come last,
  scheduling/scheduler.py), and a data mover that does not fit beside one fails the plan. Left
  over: with several replicas, each data mover goes next to some replica, not necessarily its own
  (two may share one replica's node); and a NoExecute taint the backed-up pod tolerates is
  counted as tolerated (the kubelet would reject the data mover, which tolerates only Velero's
  third-party keys). All of a backup's data movers are counted at once (Velero creates them all
  and lets the node agent's concurrency, one per node by default, hold them waiting:
  file-system-backup.md, "Parallelism").
- **kopia maintenance**: one Job per backup repository, i.e. per backed-up namespace (that has a
  volume) and storage location, from the server's image and ServiceAccount, with the
  `podResources` of the repository's key (`<namespace>-<location>-kopia`) or `global` in the
  ConfigMap of the server's `--repo-maintenance-job-configmap` (pkg/repository/maintenance/
  maintenance.go, `buildJob`, `getJobConfig`: velero_config.py; none there: no requests),
  tolerating only what the server's pod tolerates of Velero's third-party keys
  (`buildTolerationsForMaintenanceJob`): a normal Job, placed by the scheduler.

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
from typing import Any

from .tree import RenderedObject
from .velero_config import (
    DEFAULT_FS_BACKUP_FLAG,
    MAINTENANCE_CONFIG_FLAG,
    NODE_AGENT_ARGS,
    SERVER_ARGS,
    Velero,
    _bool_flag,
    _container_image,
    _flag,
    _job_config,
    config_maps,
    node_agent_config,
    parse_pod_resources,
    servers,
)

API_GROUP = "velero.io"
#: The repository key's uploader type (pkg/repository/maintenance, getJobConfig:
#: `<volume namespace>-<location>-<repository type>`).
REPOSITORY_TYPE = "kopia"
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


def rendered_workloads(
    rendered: dict[str, list[RenderedObject]], skip: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(namespace, manifest) of the Deployments, StatefulSets and bound Pods of the render (not
    those of `skip` keys)."""
    from .rendering import folder_namespaces  # rendering imports this module

    folders = folder_namespaces(rendered)
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
