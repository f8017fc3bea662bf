"""Workloads and their pods, from Kubernetes manifests of any source.

A Deployment or StatefulSet runs `spec.replicas` pods (1 when unset), or the `minReplicas` of the
HorizontalPodAutoscaler that scales it (disruption.objects._replicas); a DaemonSet one pod on
each node it is eligible for (the scheduler decides which); a Pod with `spec.nodeName` (the
Talos control-plane static pods) one pod bound to that node; a Job its `parallelism` pods (1 when
unset, no more than `completions`, none while suspended); a CronJob the pods of one Job of its
`jobTemplate` (one run at a time: concurrencyPolicy Forbid and Replace never run two, and the
overlapping runs Allow permits are not counted; none while suspended), so that a backup is proven
to fit beside everything else (a Helm hook's Job too: it runs beside everything at each install
and upgrade). Bare Pods without a node are not placed.

A pod requests, per resource, the larger of its longest init container and the sum of its
containers (sidecars, init containers with `restartPolicy: Always`, counted with the
containers), plus `spec.overhead`; a container with a limit and no request requests its limit
(API server defaulting). A pod without requests counts 0 (and the report notes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..disruption.objects import Placed, _name, _pod_labels, _replicas
from . import shape
from .quantities import cpu_millis, memory_bytes

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Pod", "Job", "CronJob")
#: Kinds whose pods run to completion: placed like the others (they must fit), last, and in a
#: drain neither waited for nor placed again (drain.py).
BATCH_KINDS = ("Job", "CronJob")
#: A label standing for the ReplicaSet's `pod-template-hash`, so that `matchLabelKeys` and the
#: surge pod of a rolling update (another revision) are told apart from the running pods.
REVISION_LABEL = "pod-template-hash"


@dataclass(eq=False)
class Workload:
    source: str
    kind: str
    namespace: str
    name: str
    replicas: int
    replicas_from: str
    spec: dict[str, Any]
    """The pod template's spec."""
    labels: dict[str, str]
    cpu: int
    memory: int
    has_requests: bool
    manifest: dict[str, Any] = field(repr=False)
    bound_to: str | None = None

    @property
    def title(self) -> str:
        return f"{self.source} {self.kind} {self.namespace}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def evictable(self) -> bool:
        """Whether a drain evicts its pods and they must run elsewhere (`--ignore-daemonsets`;
        mirror pods stay; a Job's pod is evicted too, but see `runs_to_completion`)."""
        return self.kind in ("Deployment", "StatefulSet")

    @property
    def runs_to_completion(self) -> bool:
        """A Job's or CronJob's pod: there only while a run lasts."""
        return self.kind in BATCH_KINDS


@dataclass(eq=False)
class Pod:
    workload: Workload
    labels: dict[str, str]

    @property
    def namespace(self) -> str:
        return self.workload.namespace

    @property
    def spec(self) -> dict[str, Any]:
        return self.workload.spec


def _requests(container: dict[str, Any]) -> tuple[int, int, bool]:
    resources = container.get("resources") or {}
    requests = dict(resources.get("limits") or {})
    requests.update(resources.get("requests") or {})
    cpu, memory = requests.get("cpu"), requests.get("memory")
    return (
        cpu_millis(cpu) if cpu is not None else 0,
        memory_bytes(memory) if memory is not None else 0,
        cpu is not None or memory is not None,
    )


def pod_requests(spec: dict[str, Any]) -> tuple[int, int, bool]:
    """(millicores, bytes, whether anything is requested) of a pod spec."""
    cpu = memory = 0
    found = False
    init_cpu = init_memory = 0
    for container in spec.get("initContainers") or []:
        c, m, f = _requests(container)
        found = found or f
        if container.get("restartPolicy") == "Always":
            cpu, memory = cpu + c, memory + m
        else:
            init_cpu, init_memory = max(init_cpu, c), max(init_memory, m)
    for container in spec.get("containers") or []:
        c, m, f = _requests(container)
        found = found or f
        cpu, memory = cpu + c, memory + m
    overhead = spec.get("overhead") or {}
    extra_cpu = cpu_millis(overhead["cpu"]) if "cpu" in overhead else 0
    extra_memory = memory_bytes(overhead["memory"]) if "memory" in overhead else 0
    return max(cpu, init_cpu) + extra_cpu, max(memory, init_memory) + extra_memory, found


#: What reading a malformed manifest raises (the schema checks report the field itself).
MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def _job_pods(job: dict[str, Any], at: str) -> tuple[int, str]:
    """The pods a Job with spec `job` (at `at` in its manifest) runs at once: `parallelism`, 1
    when unset, no more than `completions` when set; none while suspended."""
    if job.get("suspend") is True:
        return 0, f"{at}.suspend"
    if "parallelism" in job:
        pods, source = shape.whole(job["parallelism"], f"{at}.parallelism"), f"{at}.parallelism"
    else:
        pods, source = 1, f"{at}.parallelism unset"
    if job.get("completions") is not None:
        completions = shape.whole(job["completions"], f"{at}.completions")
        if completions < pods:
            pods, source = completions, f"{at}.completions"
    return max(pods, 0), source


def _batch(manifest: dict[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any], int, str]:
    """(pod spec, pod labels, pods, where that number comes from) of a Job or a CronJob."""
    spec = manifest.get("spec") or {}
    if kind == "Job":
        job, at = spec, "spec"
    else:
        job, at = (spec.get("jobTemplate") or {}).get("spec") or {}, "spec.jobTemplate.spec"
    template = job.get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    pods, source = _job_pods(job, at)
    if kind == "CronJob" and job.get("suspend") is not True:
        policy = spec.get("concurrencyPolicy", "Allow")
        if spec.get("suspend") is True:
            pods, source = 0, "spec.suspend"
        elif policy == "Allow":
            source += " of one Job (concurrencyPolicy Allow: overlapping runs not counted)"
        else:
            source += f" of one Job at a time (concurrencyPolicy {policy})"
    return template.get("spec") or {}, labels, pods, source


def _workload(item: Placed, kind: str, hpas: list[Placed]) -> Workload | None:
    """The workload of one manifest (None for a Pod bound to no node); raises a MALFORMED
    error naming the field it cannot read."""
    manifest = item.manifest
    shape.manifest(manifest, kind)
    if kind == "Pod":
        spec = manifest.get("spec") or {}
        labels = dict((manifest.get("metadata") or {}).get("labels") or {})
        if not spec.get("nodeName"):
            return None
        replicas, replicas_from = 1, f"bound to {spec['nodeName']}"
    elif kind in BATCH_KINDS:
        spec, labels, replicas, replicas_from = _batch(manifest, kind)
    else:
        spec = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
        labels = _pod_labels(manifest)
        if kind == "DaemonSet":
            replicas, replicas_from = 0, "one per eligible node"
        else:
            replicas, replicas_from = _replicas(item, hpas)
    cpu, memory, found = pod_requests(spec)
    return Workload(
        source=item.where,
        kind=kind,
        namespace=item.namespace,
        name=_name(manifest),
        replicas=replicas,
        replicas_from=replicas_from,
        spec=spec,
        labels={str(k): str(v) for k, v in labels.items()},
        cpu=cpu,
        memory=memory,
        has_requests=found,
        manifest=manifest,
        bound_to=spec.get("nodeName") if kind == "Pod" else None,
    )


def read_workloads(objects: list[Placed]) -> tuple[list[Workload], list[str]]:
    """(the workloads among `objects`, why each one that cannot be read is not checked).

    HorizontalPodAutoscalers among `objects` set replicas. A workload with a malformed field
    is left out, naming it; the others are still checked.
    """
    hpas = [o for o in objects if o.manifest.get("kind") == "HorizontalPodAutoscaler"]
    workloads, skipped = [], []
    for item in objects:
        kind = item.manifest.get("kind")
        if kind not in KINDS:
            continue
        try:
            workload = _workload(item, str(kind), hpas)
        except MALFORMED as exc:
            title = f"{item.where} {kind} {item.namespace}/{_name(item.manifest)}"
            skipped.append(f"scheduling not checked for {title}: {exc}")
            continue
        if workload is not None:
            workloads.append(workload)
    return workloads, skipped


def workloads_of(objects: list[Placed]) -> list[Workload]:
    """The workloads among `objects` that can be read (see read_workloads)."""
    return read_workloads(objects)[0]


def new_pod(workload: Workload, revision: str = "current") -> Pod:
    labels = dict(workload.labels)
    if workload.kind == "Deployment":
        labels[REVISION_LABEL] = revision
    return Pod(workload, labels)
