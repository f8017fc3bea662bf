"""The Velero add-on (gitops/platform/addons/velero): what it renders from the vendored chart in
each environment (where the backups go, with which credentials, which namespaces, how long they
are kept), that the offline plan places it, and that its cross-check with the stack fails when
the tree and Pulumi.<env>.yaml disagree, with the message it should."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import pytest
import yaml

from offline.validators import gitops
from offline.validators.gitops import RenderedObject, charts, velero, velero_pods
from offline.validators.gitops.schemas import describe
from offline.validators.gitops.stack import StackBackup
from offline.validators.scheduling import evaluate
from tests.conftest import document

ENVS = gitops.ENVIRONMENTS
K8S = "v1.36.2"
Rendered = dict[str, list[RenderedObject]]
CHART = "chart velero 12.1.0 (Application velero)"
ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
TTL = {"dev": "168h", "staging": "336h", "prod": "720h"}
VALUES = "spec.source.helm.valuesObject"
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


@pytest.fixture(scope="module")
def shipped() -> dict[str, Rendered]:
    return {env: gitops._render_environment(env, K8S) for env in ENVS}


def of_kind(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o.manifest for o in rendered[CHART] if o.manifest["kind"] == kind]


def one(rendered: Rendered, kind: str) -> dict[str, Any]:
    (found,) = of_kind(rendered, kind)
    return found


def application(rendered: Rendered, name: str) -> RenderedObject:
    (found,) = [
        i
        for items in rendered.values()
        for i in items
        if i.manifest["kind"] == "Application" and i.manifest["metadata"]["name"] == name
    ]
    return found


def stack(env: str) -> gitops.StackPlatform:
    facts = gitops.stack_platform(env)
    assert isinstance(facts, gitops.StackPlatform)
    return facts


def wave(app: RenderedObject) -> int:
    return int(app.manifest["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


# --- What each environment renders --------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_backups_go_to_the_stacks_bucket_under_velero(
    env: str, shipped: dict[str, Rendered]
) -> None:
    (location,) = of_kind(shipped[env], "BackupStorageLocation")
    assert location["metadata"] == {
        **location["metadata"],
        "name": "default",
        "namespace": "velero",
    }
    spec = location["spec"]
    assert spec["default"] is True
    assert spec["provider"] == "aws"
    assert spec["objectStorage"] == {"bucket": f"talos-platform-{env}-backups", "prefix": "velero"}
    assert spec["config"] == {
        "region": "auto",
        "s3ForcePathStyle": "true",
        "s3Url": ENDPOINT,
        "checksumAlgorithm": "",
    }
    # The server's credentials (the program's Secret), none of the location's own.
    assert "credential" not in spec
    # ... which is what the stack says.
    backup = stack(env).backup
    assert backup == StackBackup(spec["objectStorage"]["bucket"], spec["config"]["s3Url"])


@pytest.mark.parametrize("env", ENVS)
def test_the_server_and_node_agent_use_the_programs_secret_and_pinned_images(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    deployment = one(rendered, "Deployment")
    agent = one(rendered, "DaemonSet")
    assert (deployment["metadata"]["name"], agent["metadata"]["name"]) == ("velero", "node-agent")
    for workload in (deployment, agent):
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["cloud-credentials"]["secret"] == {"secretName": "velero-r2"}
        (container,) = pod["containers"]
        assert container["image"] == "docker.io/velero/velero:v1.18.1"
        env_vars = {e["name"]: e.get("value") for e in container["env"]}
        assert env_vars["AWS_SHARED_CREDENTIALS_FILE"] == "/credentials/cloud"
        assert set(container["resources"]) == {"requests", "limits"}
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    pod = deployment["spec"]["template"]["spec"]
    (plugin,) = pod["initContainers"]
    # v1.14.x is the plugin line of Velero v1.18; v1.14.1 and v1.14.2 send an empty
    # x-amz-tagging header that R2 refuses (application.yaml).
    assert plugin["image"] == "docker.io/velero/velero-plugin-for-aws:v1.14.0"
    assert {"mountPath": "/target", "name": "plugins"} in plugin["volumeMounts"]
    args = pod["containers"][0]["args"]
    assert "--uploader-type=kopia" in args
    assert "--default-volumes-to-fs-backup" in args
    # The node agent reads the pods' volumes on its node.
    host = {v["name"]: v.get("hostPath") for v in agent["spec"]["template"]["spec"]["volumes"]}
    assert host["host-pods"] == {"path": "/var/lib/kubelet/pods"}


def _stateful_namespaces(rendered: Rendered) -> set[str]:
    """Namespaces of the apps (gitops/apps) that keep data on volumes: claims, or StatefulSets
    with claim templates."""
    found = set()
    for path, items in rendered.items():
        if not path.startswith("gitops/apps/"):
            continue
        for item in items:
            manifest = item.manifest
            if manifest["kind"] == "PersistentVolumeClaim" or (
                manifest["kind"] == "StatefulSet" and manifest["spec"].get("volumeClaimTemplates")
            ):
                found.add(manifest["metadata"]["namespace"])
    return found


@pytest.mark.parametrize("env", ENVS)
def test_a_daily_schedule_backs_up_the_namespaces_with_volumes(
    env: str, shipped: dict[str, Rendered]
) -> None:
    (schedule,) = of_kind(shipped[env], "Schedule")
    assert schedule["metadata"]["name"] == "velero-volumes"
    spec = schedule["spec"]
    assert spec["schedule"] == "0 3 * * *"
    assert "useOwnerReferencesInBackup" not in spec  # deleting the Schedule keeps the backups
    template = spec["template"]
    assert template["ttl"] == TTL[env]
    assert template["storageLocation"] == "default"
    # Every object of those namespaces (a file-system restore needs the pods), nothing else...
    assert sorted(template["includedNamespaces"]) == sorted(_stateful_namespaces(shipped[env]))
    assert template["includedNamespaces"] == ["podinfo"]
    # ... but their Secrets: the objects' tarball is encrypted by R2 alone, not by Velero.
    assert template["excludedResources"] == ["secrets"]
    assert not {
        "includedResources",
        "includedNamespaceScopedResources",
        "excludedNamespaceScopedResources",
        "labelSelector",
        "orLabelSelectors",
    } & set(template)
    assert template["defaultVolumesToFsBackup"] is True
    assert template["snapshotVolumes"] is False
    # ... but no emptyDir: its volume policy, the one key of a ConfigMap in Velero's namespace.
    reference = template["resourcePolicy"]
    assert reference["kind"] == "configmap"
    (policy,) = [
        c
        for c in of_kind(shipped[env], "ConfigMap")
        if c["metadata"] == {**c["metadata"], "name": reference["name"], "namespace": "velero"}
    ]
    (text,) = policy["data"].values()
    assert yaml.safe_load(text) == {
        "version": "v1",
        "volumePolicies": [
            {"conditions": {"volumeTypes": ["emptyDir"]}, "action": {"type": "skip"}}
        ],
    }


@pytest.mark.parametrize("env", ENVS)
def test_nothing_the_program_or_argo_cd_owns_and_no_snapshots(
    env: str, shipped: dict[str, Rendered]
) -> None:
    kinds = {o.manifest["kind"] for o in shipped[env][CHART]}
    # No snapshot location, no Secret, no namespace (the program's), no upgrade-crds hook Job.
    assert not kinds & {"VolumeSnapshotLocation", "Secret", "Namespace", "Job", "ClusterRole"}
    # The CRDs come from the chart's crds/ (Argo CD applies them), the kinds above among them.
    app = application(shipped[env], "velero").manifest
    (source,) = charts.helm_sources(app)
    crds = {crd.kind for crd in charts.chart_crds(source)}
    assert {"BackupStorageLocation", "Schedule", "Backup", "Restore"} <= crds
    assert app["spec"]["destination"]["namespace"] == "velero"
    assert "CreateNamespace=true" not in app["spec"]["syncPolicy"]["syncOptions"]


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_scrapes_the_server_after_its_crds_exist(
    env: str, shipped: dict[str, Rendered]
) -> None:
    rendered = shipped[env]
    monitor = one(rendered, "ServiceMonitor")
    service = one(rendered, "Service")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"] == "velero"
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    # kube-prometheus-stack's Prometheus reads ServiceMonitors of every namespace and label.
    (prometheus,) = [
        o.manifest
        for items in rendered.values()
        for o in items
        if o.manifest["kind"] == "Prometheus"
    ]
    assert prometheus["spec"]["serviceMonitorSelector"] == {}
    assert prometheus["spec"]["serviceMonitorNamespaceSelector"] == {}
    # Synced after the add-on that defines ServiceMonitor and the StorageClasses' add-on.
    app = application(rendered, "velero")
    assert wave(app) > wave(application(rendered, "kube-prometheus-stack"))
    assert wave(app) > wave(application(rendered, "proxmox-csi-plugin"))


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
    resources = velero_pods.parse_pod_resources(config["podResources"])
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
    expected = velero_pods.parse_pod_resources(maintenance["global"]["podResources"]).resources
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == expected
    assert expected["requests"] == {"cpu": "50m", "memory": "128Mi"}


def _redis(rendered: Rendered) -> dict[str, Any]:
    (redis,) = [
        o.manifest
        for path, items in rendered.items()
        if path.startswith("gitops/apps/podinfo/")
        for o in items
        if o.manifest["kind"] == "StatefulSet" and o.manifest["metadata"]["name"] == "redis"
    ]
    return redis


@pytest.mark.parametrize("env", ENVS)
def test_redis_stops_aof_rewrites_while_velero_copies_it(
    env: str, shipped: dict[str, Rendered]
) -> None:
    """Velero's backup hooks on the Redis pod (read as internal/hook/item_hook_handler.go reads
    them: a JSON array, a container of the pod, Fail or Continue, a Go duration): automatic AOF
    rewrites off (and one in progress waited for) before the copy, Redis' default back after."""
    redis = _redis(shipped[env])
    template = redis["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    containers = {c["name"]: c for c in template["spec"]["containers"]}
    (container,) = containers.values()
    # Redis writes an append-only file and the Schedule backs its namespace up.
    assert "--appendonly" in container["args"]
    (schedule,) = of_kind(shipped[env], "Schedule")
    assert redis["metadata"]["namespace"] in schedule["spec"]["template"]["includedNamespaces"]
    commands = {}
    for phase in ("pre", "post"):
        prefix = f"{phase}.hook.backup.velero.io"
        assert annotations[f"{prefix}/container"] in containers
        assert annotations[f"{prefix}/on-error"] == "Fail"
        assert re.fullmatch(r"[0-9]+s", annotations[f"{prefix}/timeout"])
        command = json.loads(annotations[f"{prefix}/command"])
        assert isinstance(command, list) and all(isinstance(a, str) for a in command)
        assert command[:2] == ["/bin/sh", "-c"]
        commands[phase] = command[2]
    assert commands["pre"].startswith(
        'test "$(redis-cli -h 127.0.0.1 -p 6379 CONFIG SET auto-aof-rewrite-percentage 0)" = OK'
    )
    assert "aof_rewrite_(in_progress|scheduled):1" in commands["pre"]
    # 100: Redis' own default (src/config.c), which the arguments do not change.
    assert commands["post"] == (
        'test "$(redis-cli -h 127.0.0.1 -p 6379 CONFIG SET auto-aof-rewrite-percentage 100)" = OK'
    )
    assert not [a for a in container["args"] if "auto-aof-rewrite" in str(a)]
    # Waiting for a rewrite stays within the hook's timeout before Velero gives up.
    assert int(annotations["pre.hook.backup.velero.io/timeout"][:-1]) >= 30


def test_the_check_names_what_the_program_creates() -> None:
    from components.backup import names

    assert velero.VELERO_NAMESPACE == names.VELERO_NAMESPACE
    assert velero.CREDENTIALS_SECRET == names.VELERO_CREDENTIALS
    assert velero.PREFIX == names.VELERO_PREFIX


# --- The checks fail when they should ------------------------------------------------------------


def _patched(shipped: dict[str, Rendered], env: str) -> tuple[Rendered, dict[str, Any]]:
    """A copy of the environment's render and the velero values in it, to break on purpose."""
    rendered = copy.deepcopy(shipped[env])
    values = application(rendered, "velero").manifest["spec"]["source"]["helm"]["valuesObject"]
    return rendered, values


def _rerender(rendered: Rendered) -> Rendered:
    """The velero chart rendered again from the Application's (changed) values."""
    app = application(rendered, "velero").manifest
    (source,) = charts.helm_sources(app)
    rendered[source.key] = charts.render(source, K8S)
    return rendered


def test_a_bucket_that_is_not_the_stacks_is_named_with_both_values(
    shipped: dict[str, Rendered],
) -> None:
    rendered, values = _patched(shipped, "prod")
    values["configuration"]["backupStorageLocation"][0]["bucket"] = "talos-platform-staging-backups"
    problems = gitops.platform_problems("prod", _rerender(rendered), stack("prod"))
    assert [str(p) for p in problems] == [
        "gitops/platform/envs/prod/velero.yaml: Application argocd/velero: "
        f"{VALUES}.configuration.backupStorageLocation[0].bucket: "
        "'talos-platform-staging-backups', but the stack's talos-platform:backup.bucket is "
        "'talos-platform-prod-backups' (Pulumi.prod.yaml): the program creates that bucket and "
        "a token for it alone; Velero could not write"
    ]


def test_an_endpoint_of_another_jurisdiction_is_named(shipped: dict[str, Rendered]) -> None:
    # The stack moved its bucket to the EU jurisdiction; the tree still names the default one.
    eu = "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
    moved = dataclasses.replace(stack("dev"), backup=StackBackup("talos-platform-dev-backups", eu))
    (problem,) = gitops.platform_problems("dev", shipped["dev"], moved)
    assert problem.source == "gitops/platform/envs/dev/velero.yaml"
    assert problem.field == f"{VALUES}.configuration.backupStorageLocation[0].config.s3Url"
    assert problem.message.startswith(f"'{ENDPOINT}', but the R2 endpoint of the stack's ")
    assert f"is '{eu}' (Pulumi.dev.yaml)" in problem.message


def test_the_r2_settings_and_the_programs_secret_are_required(
    shipped: dict[str, Rendered],
) -> None:
    rendered, values = _patched(shipped, "staging")
    location = values["configuration"]["backupStorageLocation"][0]
    location["prefix"] = "backups"
    location["config"]["s3ForcePathStyle"] = "false"
    values["credentials"]["existingSecret"] = "cloud-credentials"
    values["credentials"]["secretContents"] = {"cloud": "aws_secret_access_key=hunter2"}
    values["snapshotsEnabled"] = True
    problems = gitops.platform_problems("staging", _rerender(rendered), stack("staging"))
    assert problems[0].message.endswith(
        "found useSecret: True, existingSecret: 'cloud-credentials'"
    )
    assert not [p for p in problems if "hunter2" in str(p)]  # a credential is never echoed
    assert [(p.source, p.field) for p in problems] == [
        (
            "gitops/platform/addons/velero/application.yaml",
            f"{VALUES}.credentials",
        ),
        (
            "gitops/platform/envs/staging/velero.yaml",
            f"{VALUES}.configuration.backupStorageLocation[0].prefix",
        ),
        (
            "gitops/platform/envs/staging/velero.yaml",
            f"{VALUES}.configuration.backupStorageLocation[0].config.s3ForcePathStyle",
        ),
        ("gitops/platform/addons/velero/application.yaml", f"{VALUES}.snapshotsEnabled"),
    ]


def test_a_stack_without_backup_has_nothing_for_velero(shipped: dict[str, Rendered]) -> None:
    without = dataclasses.replace(stack("dev"), backup=None)
    (problem,) = gitops.platform_problems("dev", shipped["dev"], without)
    assert problem.message.startswith(
        "Pulumi.dev.yaml has no talos-platform:backup: the program then creates no bucket"
    )


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
    rendered, values = _patched(shipped, "dev")
    config = _node_agent_config(values)["config"]
    config["podResources"].update(memoryRequest="64Gi", memoryLimit="64Gi")
    _set_node_agent_config(values, config)
    rendered = _remodel(_rerender(rendered))
    report = evaluate(document("dev"), K8S, rendered=rendered)
    assert [p for p in report.problems if MOVER in p], report.problems
    assert not [p for p in report.problems if "DaemonSet velero/node-agent" in p]


def test_a_data_mover_must_fit_on_the_node_of_the_pod_it_copies(
    shipped: dict[str, Rendered],
) -> None:
    """Velero binds the data mover to the backed-up pod's node (`nodeName`): room on another
    node does not help, the kubelet of that node rejects it."""
    rendered, values = _patched(shipped, "staging")
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
    redis = _redis(rendered)
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
    rendered = _remodel(_rerender(rendered))

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
    rendered, values = _patched(shipped, "staging")
    change(values)
    rendered = _remodel(_rerender(rendered))
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
    parse = velero_pods.parse_pod_resources
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
    rendered, values = _patched(shipped, "dev")
    values["deployNodeAgent"] = False
    assert MODEL not in _remodel(_rerender(rendered))


def test_the_velero_kinds_are_validated_against_the_charts_crds(
    shipped: dict[str, Rendered],
) -> None:
    schedule = copy.deepcopy(
        next(o for o in shipped["prod"][CHART] if o.manifest["kind"] == "Schedule")
    )
    schedule.manifest["spec"]["template"]["ttll"] = "720h"
    schedule.manifest["spec"]["schedule"] = 3
    problems = gitops.validate_manifest(schedule.manifest, K8S, schedule.origin)
    assert sorted(str(p) for p in problems) == [
        "upstream/charts/velero/templates/schedule.yaml: Schedule velero/velero-volumes: "
        "spec.schedule: 3 is not of type 'string'",
        "upstream/charts/velero/templates/schedule.yaml: Schedule velero/velero-volumes: "
        "spec.template.ttll: unknown field 'ttll'; did you mean 'ttl'?",
    ]
