"""The pods Velero starts at run time, as the capacity check models them
(offline/validators/gitops/velero_pods.py): the data movers of a file-system backup and the kopia
maintenance Jobs, sized from the node agent's ConfigMap and the maintenance values as Velero
reads them (velero_config.py), placed where Velero would run them, and a node-agent ConfigMap
Velero would not use named by the cross-check."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from offline.validators import gitops
from offline.validators.gitops import RenderedObject, velero_config, velero_pods
from offline.validators.gitops.schemas import describe
from offline.validators.scheduling import evaluate
from tests.conftest import document
from tests.gitops.velero_support import (
    CHART,
    ENVS,
    K8S,
    VALUES,
    Rendered,
    application,
    of_kind,
    one,
    patched,
    redis_statefulset,
    rerender,
    stack,
)

MODEL = "velero (Schedule velero/velero-volumes)"
MOVER = "Job velero/velero-volumes-podinfo-redis-data"
MAINTENANCE = "Job velero/podinfo-default-kopia-maintain-job"
#: What the node agent's ConfigMap gives each data-mover pod (application.yaml).
POD_RESOURCES = {
    "cpuRequest": "50m",
    "cpuLimit": "0",
    "memoryRequest": "256Mi",
    "memoryLimit": "1Gi",
}


# --- What each environment renders --------------------------------------------------------------


def _placed(env: str, rendered: Rendered) -> dict[str, int]:
    report = evaluate(document(env), K8S, rendered=rendered)
    assert report.problems == []
    assert report.cluster is not None
    counts: dict[str, int] = {}
    for pod in report.cluster.all_pods():
        counts[pod.workload.ref] = counts.get(pod.workload.ref, 0) + 1
    return counts


@pytest.mark.parametrize("env", ENVS)
def test_the_capacity_check_places_velero_on_every_stack(
    env: str, shipped: dict[str, Rendered]
) -> None:
    placed = _placed(env, shipped[env])
    assert placed["Deployment velero/velero"] == 1
    # A node agent wherever the apps' pods run: where podinfo's Redis (and its volume) may go.
    workers = {"dev": 1, "staging": 3, "prod": 3}
    assert placed["DaemonSet velero/node-agent"] == workers[env]
    # ... and what Velero starts at 03:00: a data mover for Redis' volume, the maintenance of
    # podinfo's kopia repository.
    assert placed[MOVER] == 1
    assert placed[MAINTENANCE] == 1


@pytest.mark.parametrize("env", ENVS)
def test_the_node_agent_sizes_its_data_movers(env: str, shipped: dict[str, Rendered]) -> None:
    """The node agent reads the ConfigMap `velero-node-agent` (one key of JSON), whose
    podResources Velero accepts: every data-mover pod requests them (not BestEffort)."""
    rendered = shipped[env]
    agent = one(rendered, "DaemonSet")
    (container,) = agent["spec"]["template"]["spec"]["containers"]
    assert "--node-agent-configmap=velero-node-agent" in container["args"]
    (configmap,) = [
        c for c in of_kind(rendered, "ConfigMap") if c["metadata"]["name"] == "velero-node-agent"
    ]
    assert configmap["metadata"]["namespace"] == "velero"
    (text,) = configmap["data"].values()
    config = json.loads(text)
    assert config == {"podResources": POD_RESOURCES}
    resources = velero_config.parse_pod_resources(config["podResources"])
    # No CPU limit ("0"): it would cap kopia's parallelism (GOMAXPROCS).
    assert resources.resources == {
        "requests": {"cpu": "50m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    # The node agent itself copies nothing any more: a controller's bound.
    assert container["resources"]["limits"]["memory"] == "256Mi"
    # The model of the data mover has exactly those resources, with the node agent's image and
    # ServiceAccount.
    (mover,) = [o.manifest for o in rendered[MODEL] if describe(o.manifest) == MOVER]
    pod = mover["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == resources.resources
    assert pod["containers"][0]["image"] == container["image"]
    assert pod["serviceAccountName"] == agent["spec"]["template"]["spec"]["serviceAccountName"]
    # The maintenance Job's: the values' repositoryMaintenanceJob.
    (job,) = [o.manifest for o in rendered[MODEL] if describe(o.manifest) == MAINTENANCE]
    values = application(rendered, "velero").manifest["spec"]["source"]["helm"]["valuesObject"]
    maintenance = values["configuration"]["repositoryMaintenanceJob"]["repositoryConfigData"]
    expected = velero_config.parse_pod_resources(maintenance["global"]["podResources"]).resources
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == expected
    assert expected["requests"] == {"cpu": "50m", "memory": "128Mi"}


# --- The checks fail when they should ------------------------------------------------------------


def _remodel(rendered: Rendered) -> Rendered:
    """What Velero starts, modelled again from the (changed) render."""
    rendered = {k: v for k, v in rendered.items() if not k.startswith("velero (")}
    rendered.update(velero_pods.managed_objects(rendered))
    return rendered


def _node_agent_config(values: dict[str, Any]) -> dict[str, Any]:
    data = values["configMaps"]["node-agent"]["data"]
    (key,) = data
    config = json.loads(data[key])
    return {"key": key, "config": config}


def _set_node_agent_config(values: dict[str, Any], config: dict[str, Any]) -> None:
    data = values["configMaps"]["node-agent"]["data"]
    (key,) = data
    data[key] = json.dumps(config)


def test_data_movers_that_do_not_fit_fail_the_capacity_check(
    shipped: dict[str, Rendered],
) -> None:
    rendered, values = patched(shipped, "dev")
    config = _node_agent_config(values)["config"]
    config["podResources"].update(memoryRequest="64Gi", memoryLimit="64Gi")
    _set_node_agent_config(values, config)
    rendered = _remodel(rerender(rendered))
    report = evaluate(document("dev"), K8S, rendered=rendered)
    assert [p for p in report.problems if MOVER in p], report.problems
    assert not [p for p in report.problems if "DaemonSet velero/node-agent" in p]


def test_a_data_mover_must_fit_on_the_node_of_the_pod_it_copies(
    shipped: dict[str, Rendered],
) -> None:
    """Velero binds the data mover to the backed-up pod's node (`nodeName`): room on another
    node does not help, the kubelet of that node rejects it."""
    rendered, values = patched(shipped, "staging")
    mi = 2**20
    # Room per node once its bound pods and DaemonSets' run (what is placed before Redis).
    baseline = evaluate(document("staging"), K8S, rendered=shipped["staging"]).cluster
    assert baseline is not None
    free = {
        name: node.memory_allocatable
        - sum(
            p.workload.memory
            for p in baseline.pods[name]
            if p.workload.kind == "DaemonSet" or p.workload.bound_to
        )
        for name, node in baseline.nodes.items()
    }
    # Redis grows to leave at most 1Gi on whichever node it takes (the rest goes elsewhere),
    # less than the 2Gi the data mover asks; the other nodes keep more than that.
    redis_memory = (min(free.values()) - 1024 * mi) // mi
    redis = redis_statefulset(rendered)
    (container,) = [
        c for c in redis["spec"]["template"]["spec"]["containers"] if c["name"] == "redis"
    ]
    container["resources"] = {
        "requests": {"cpu": "10m", "memory": f"{redis_memory}Mi"},
        "limits": {"memory": f"{redis_memory}Mi"},
    }
    config = _node_agent_config(values)["config"]
    config["podResources"].update(memoryRequest="2Gi", memoryLimit="2Gi")
    _set_node_agent_config(values, config)
    rendered = _remodel(rerender(rendered))

    (mover,) = [o.manifest for o in rendered[MODEL] if describe(o.manifest) == MOVER]
    labels = redis["spec"]["template"]["metadata"]["labels"]
    assert mover["spec"]["template"]["spec"]["affinity"]["podAffinity"] == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": labels},
                "namespaces": ["podinfo"],
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
    report = evaluate(document("staging"), K8S, rendered=rendered)
    # Everything else is placed (Redis too); the data mover is not: Redis' node has no room,
    # the others have, but Redis is not there.
    assert [f.workload.ref for f in report.failures] == [MOVER], report.problems
    (problem,) = [p for p in report.problems if MOVER in p]
    assert "insufficient memory and required pod affinity on kubernetes.io/hostname" in problem

    # Placed anywhere (no pod affinity), the same data mover would fit.
    del mover["spec"]["template"]["spec"]["affinity"]["podAffinity"]
    anywhere = evaluate(document("staging"), K8S, rendered=rendered)
    assert not [p for p in anywhere.problems if MOVER in p], anywhere.problems


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda v: _set_node_agent_config(
                v, {"podResources": {k: x for k, x in POD_RESOURCES.items() if k != "cpuLimit"}}
            ),
            "the node agent's ConfigMap gives its data-mover pods no memory request "
            "(podResources.cpuLimit None is no quantity: ignored, BestEffort)",
        ),
        (
            lambda v: _set_node_agent_config(
                v, {"podResources": {**POD_RESOURCES, "memoryLimit": "128Mi"}}
            ),
            "the node agent's ConfigMap gives its data-mover pods no memory request "
            "(podResources: memory request '256Mi' above its limit '128Mi': all ignored)",
        ),
        (
            lambda v: v["nodeAgent"].pop("extraArgs"),
            "no --node-agent-configmap: the node agent's data-mover pods run BestEffort",
        ),
        (
            lambda v: v["configMaps"]["node-agent"]["data"].update({"extra.json": "{}"}),
            "ConfigMap velero/velero-node-agent has 2 keys: the node agent reads exactly one: "
            "the node agent does not start",
        ),
        (
            lambda v: v["configMaps"].pop("node-agent"),
            "--node-agent-configmap names ConfigMap velero/velero-node-agent, not rendered: "
            "the node agent does not start",
        ),
    ],
    ids=["cpu-limit-missing", "request-above-limit", "no-flag", "two-keys", "no-configmap"],
)
def test_a_node_agent_config_velero_would_not_use_is_named(
    shipped: dict[str, Rendered], change: Any, message: str
) -> None:
    rendered, values = patched(shipped, "staging")
    change(values)
    rendered = _remodel(rerender(rendered))
    (problem,) = gitops.platform_problems("staging", rendered, stack("staging"))
    assert (problem.source, problem.field) == (
        "gitops/platform/addons/velero/application.yaml",
        f"{VALUES}.nodeAgent.extraArgs",
    )
    assert problem.message.startswith(message), problem.message
    # The model then counts the data mover as Velero would run it: without requests.
    movers = [o.manifest for o in rendered.get(MODEL, []) if describe(o.manifest) == MOVER]
    for mover in movers:
        assert mover["spec"]["template"]["spec"]["containers"][0]["resources"] == {}


def test_podresources_are_read_as_velero_reads_them() -> None:
    parse = velero_config.parse_pod_resources
    assert parse(POD_RESOURCES).resources == {
        "requests": {"cpu": "50m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    # A limit of "0" is none; a request of "0" is none; ephemeral storage if given.
    assert parse(
        {
            "cpuRequest": "0",
            "cpuLimit": "500m",
            "memoryRequest": "1Gi",
            "memoryLimit": "0",
            "ephemeralStorageRequest": "1Gi",
        }
    ).resources == {
        "requests": {"memory": "1Gi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "500m"},
    }
    # All or nothing: an empty value, a number (Velero's fields are strings), a request above
    # its limit, no section.
    for broken in (
        {**POD_RESOURCES, "cpuLimit": ""},
        {**POD_RESOURCES, "memoryRequest": 268435456},
        {**POD_RESOURCES, "cpuRequest": "2", "cpuLimit": "1"},
        {**POD_RESOURCES, "memoryLimit": "1 Gi"},
        None,
    ):
        assert parse(broken).resources == {}, broken


def _statefulset(annotations: dict[str, str] | None = None, replicas: int = 2) -> dict[str, Any]:
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {
                    "containers": [{"name": "db", "image": "db:1"}],
                    "volumes": [
                        {"name": "scratch", "emptyDir": {}},
                        {"name": "config", "configMap": {"name": "db"}},
                        {"name": "shared", "persistentVolumeClaim": {"claimName": "shared"}},
                    ],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
        },
    }


def test_which_volumes_a_file_system_backup_copies() -> None:
    volumes = velero_pods.backed_up_volumes
    # Opt-out (defaultVolumesToFsBackup): every claim, the claim templates' too, less the
    # excluded ones; never an emptyDir or a ConfigMap.
    assert volumes(_statefulset(), True) == ["shared", "data"]
    excludes = {velero_pods.VOLUMES_TO_EXCLUDE: "data, other"}
    assert volumes(_statefulset(excludes), True) == ["shared"]
    # Opt-in: only those the pod names.
    assert volumes(_statefulset(), False) == []
    assert volumes(_statefulset({velero_pods.VOLUMES_TO_BACKUP: "data"}), False) == ["data"]


def test_a_schedule_of_every_namespace_models_a_data_mover_per_volume_and_replica(
    shipped: dict[str, Rendered],
) -> None:
    rendered = copy.deepcopy(shipped["prod"])
    rendered["gitops/apps/shop"] = [RenderedObject(_statefulset(), "gitops/apps/shop/db.yaml")]
    (schedule,) = [o for o in rendered[CHART] if o.manifest["kind"] == "Schedule"]
    schedule.manifest["spec"]["template"]["includedNamespaces"] = ["*"]
    modelled = _remodel(rendered)[MODEL]
    jobs = {describe(o.manifest): o.manifest for o in modelled}
    # Two replicas, two claims each; Redis; Prometheus' volume (prod keeps it on a claim).
    assert jobs["Job velero/velero-volumes-shop-db-data"]["spec"]["parallelism"] == 2
    assert jobs["Job velero/velero-volumes-shop-db-shared"]["spec"]["parallelism"] == 2
    assert MOVER in jobs
    assert [n for n in jobs if "prometheus" in n and "maintain" not in n]
    # One maintenance Job per namespace with a backed-up volume.
    maintenance = sorted(n for n in jobs if n.endswith("-default-kopia-maintain-job"))
    assert maintenance == [
        "Job velero/monitoring-default-kopia-maintain-job",
        MAINTENANCE,
        "Job velero/shop-default-kopia-maintain-job",
    ]
    # The data mover goes where the backed-up pod may run: Prometheus' node placement.
    (prometheus,) = [
        o.manifest
        for o in rendered[
            "prometheus-operator (Prometheus monitoring/kube-prometheus-stack-prometheus)"
        ]
    ]
    placement = {
        k: v
        for k, v in prometheus["spec"]["template"]["spec"].items()
        if k in ("nodeSelector", "tolerations")
    }
    (mover,) = [m for n, m in jobs.items() if "prometheus" in n and "maintain" not in n]
    for key, value in placement.items():
        assert mover["spec"]["template"]["spec"][key] == value


def test_without_a_node_agent_no_data_mover_is_modelled(shipped: dict[str, Rendered]) -> None:
    rendered, values = patched(shipped, "dev")
    values["deployNodeAgent"] = False
    assert MODEL not in _remodel(rerender(rendered))
