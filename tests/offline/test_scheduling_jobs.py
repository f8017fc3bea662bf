"""Jobs and CronJobs in the capacity check (offline/validators/scheduling/workloads.py): a Job
places its `parallelism` pods, a CronJob one run's, after the long-running workloads, so that a
run (the etcd backup above all) is proven to fit beside everything; a drain evicts such a pod
without placing it again (drain.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.validators import gitops
from offline.validators.disruption.objects import Placed
from offline.validators.scheduling import Cluster, Node, evaluate, workloads_of
from offline.validators.scheduling.drain import drain_findings
from offline.validators.scheduling.workloads import new_pod
from tests.conftest import STACKS, document
from tests.offline.test_scheduling import K8S, _deployment, _rendered, _small_plan, check, placed

BACKUP = "CronJob etcd-backup/talos-backup"
BACKUP_SOURCE = "gitops/platform/etcd-backup/base/cronjob.yaml"
MEMORY_FIX = (
    "fix: lower the requests, or give the nodes more memory (talos-platform:nodes memory_mb), "
    "or add nodes"
)


def _pod(name: str, memory: str) -> dict[str, Any]:
    container = {"name": name, "image": f"{name}:1"}
    container["resources"] = {"requests": {"cpu": "10m", "memory": memory}}
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}


def _job(name: str, memory: str = "64Mi", **job: Any) -> dict[str, Any]:
    spec = {"template": _pod(name, memory), **job}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": spec,
    }


def _cronjob(name: str, memory: str = "64Mi", job: Any = None, **cron: Any) -> dict[str, Any]:
    job_spec = {"template": _pod(name, memory), **(job or {})}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": job_spec}, **cron},
    }


def _read(manifest: dict[str, Any]) -> tuple[int, str]:
    [workload] = workloads_of([Placed(manifest, "demo", "batch.yaml")])
    return workload.replicas, workload.replicas_from


# --- How many pods -----------------------------------------------------------------------------


def test_a_job_places_its_parallelism_no_more_than_its_completions() -> None:
    assert _read(_job("j")) == (1, "spec.parallelism unset")
    assert _read(_job("j", parallelism=3)) == (3, "spec.parallelism")
    assert _read(_job("j", parallelism=3, completions=2)) == (2, "spec.completions")
    assert _read(_job("j", parallelism=2, completions=5)) == (2, "spec.parallelism")
    assert _read(_job("j", parallelism=3, suspend=True)) == (0, "spec.suspend")


def test_a_cronjob_places_one_run() -> None:
    at = "spec.jobTemplate.spec"
    forbid = _cronjob("c", job={"parallelism": 2}, concurrencyPolicy="Forbid")
    assert _read(forbid) == (2, f"{at}.parallelism of one Job at a time (concurrencyPolicy Forbid)")
    assert _read(_cronjob("c", concurrencyPolicy="Replace")) == (
        1,
        f"{at}.parallelism unset of one Job at a time (concurrencyPolicy Replace)",
    )
    assert _read(_cronjob("c")) == (
        1,
        f"{at}.parallelism unset of one Job (concurrencyPolicy Allow: overlapping runs not "
        "counted)",
    )
    assert _read(_cronjob("c", suspend=True)) == (0, "spec.suspend")
    assert _read(_cronjob("c", job={"suspend": True})) == (0, f"{at}.suspend")


# --- Placement ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_etcd_backup_is_placed_on_a_node_that_runs_workloads(stack: str) -> None:
    report = check(document(stack), stack)
    assert report.problems == []
    assert placed(report)[BACKUP] == 1
    assert report.cluster is not None
    [node] = [
        report.cluster.node_of[p] for p in report.cluster.all_pods() if p.workload.ref == BACKUP
    ]
    assert not next(n for n in report.nodes if n.name == node).taints


def test_a_cronjob_pod_too_large_to_fit_fails_naming_it() -> None:
    """The backup's pod asks for more memory than dev's worker has: the problem names the
    CronJob, its file and the node, and everything else is still placed."""
    rendered = dict(_rendered("dev"))
    folder = "gitops/platform/etcd-backup/envs/dev"
    items = [gitops.RenderedObject(copy.deepcopy(i.manifest), i.origin) for i in rendered[folder]]
    [cronjob] = [i.manifest for i in items if i.manifest["kind"] == "CronJob"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["containers"][0]["resources"] = {"requests": {"memory": "64Gi"}}
    rendered[folder] = items
    report = evaluate(document("dev"), K8S, rendered=rendered)
    [problem] = report.problems
    assert problem.startswith(
        f"{BACKUP_SOURCE} {BACKUP}: 1 of 1 pods cannot be placed: insufficient memory "
        "(dev-worker-1: requests 65536Mi, "
    )
    assert problem.endswith(MEMORY_FIX)
    assert [f.workload.ref for f in report.failures] == [BACKUP]


def test_runs_are_placed_after_the_long_running_workloads() -> None:
    """n1 (4 cores, 7708Mi allocatable, 140Mi of it CoreDNS's) takes the Deployment or the
    CronJob's pod, not both. The larger pod would go first; the run goes last, and is the one
    that stays Pending, as in a cluster where it comes while everything else runs."""
    app = _deployment("app")
    app["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = "3800Mi"
    app["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    releases = {"backup": [_cronjob("backup", memory="4000Mi", concurrencyPolicy="Forbid")]}
    report = evaluate(_small_plan(app), K8S, rendered={}, releases=releases)
    assert placed(report)["Deployment demo/app"] == 1
    [problem] = report.problems
    assert problem.startswith(
        "release backup CronJob demo/backup: 1 of 1 pods cannot be placed: insufficient memory "
        "(n1: requests 4000Mi, 3768Mi free of 7708Mi allocatable)"
    )


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            _cronjob("bad", job={"parallelism": "two"}),
            "spec.jobTemplate.spec.parallelism: 'two' is not a whole number",
        ),
        (
            {**_cronjob("bad"), "spec": {"jobTemplate": "x"}},
            "spec.jobTemplate: 'x' is not a map",
        ),
        (
            _job("bad", completions="all"),
            "spec.completions: 'all' is not a whole number",
        ),
    ],
    ids=["parallelism", "jobTemplate", "completions"],
)
def test_a_malformed_job_is_reported_and_the_others_still_placed(
    manifest: dict[str, Any], message: str
) -> None:
    releases = {"batch": [manifest, _job("good")]}
    report = evaluate(_small_plan(), K8S, rendered={}, releases=releases)
    kind = manifest["kind"]
    assert report.problems == [
        f"scheduling not checked for release batch {kind} demo/bad: {message}"
    ]
    assert placed(report)["Job demo/good"] == 1


# --- Drains ------------------------------------------------------------------------------------


def _drained(kind: str) -> tuple[list[str], list[str]]:
    """Drain w1, where a pod of `kind` (1 GiB) runs; w2 has no room for it."""
    nodes = [
        Node(name, "worker", {}, (), 2000, size)
        for name, size in (("w1", 4 << 30), ("w2", 1 << 29))
    ]
    manifest = _job("run", memory="1Gi") if kind == "Job" else _deployment("run")
    if kind == "Deployment":
        manifest["spec"]["template"] = _pod("run", "1Gi")
    [workload] = workloads_of([Placed(manifest, "demo", "run.yaml")])
    cluster = Cluster(nodes)
    cluster.bind(new_pod(workload), "w1")
    return drain_findings(cluster, [])


def test_a_drain_evicts_a_jobs_pod_without_placing_it_again() -> None:
    """A Deployment's pod that no other node takes waits Pending for the drained node; a Job's
    pod is one run's, retried by its Job: nothing to place, nothing to wait for."""
    assert _drained("Job") == ([], [])
    problems, warnings = _drained("Deployment")
    assert problems == []
    assert warnings == [
        "draining w1: 1 pod wait Pending until it is back, no other node takes them "
        "(Deployment demo/run)"
    ]
