"""The Velero add-on (gitops/platform/addons/velero): what it renders from the vendored chart in
each environment (where the backups go, with which credentials, which namespaces, how long they
are kept), and that its cross-check with the stack fails when the tree and Pulumi.<env>.yaml
disagree, with the message it should. The pods Velero starts at run time, as the offline plan
places them: test_velero_pods.py."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import pytest
import yaml

from offline.validators import gitops
from offline.validators.gitops import RenderedObject, charts
from offline.validators.gitops.stack import StackBackup
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

ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
TTL = {"dev": "168h", "staging": "336h", "prod": "720h"}


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
        assert container["image"] == (
            "docker.io/velero/velero:v1.18.1"
            "@sha256:11459094b1b21ec7c817b08f8067d9e89380835547915cac9c4132ff05b55b90"
        )
        env_vars = {e["name"]: e.get("value") for e in container["env"]}
        assert env_vars["AWS_SHARED_CREDENTIALS_FILE"] == "/credentials/cloud"
        assert set(container["resources"]) == {"requests", "limits"}
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    pod = deployment["spec"]["template"]["spec"]
    (plugin,) = pod["initContainers"]
    # v1.14.x is the plugin line of Velero v1.18; v1.14.1 and v1.14.2 send an empty
    # x-amz-tagging header that R2 refuses (application.yaml).
    assert plugin["image"] == (
        "docker.io/velero/velero-plugin-for-aws:v1.14.0"
        "@sha256:7e82f717f44e89671212e0dfce7e061321c386ea84a33bca64a671670ca6c278"
    )
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


@pytest.mark.parametrize("env", ENVS)
def test_redis_stops_aof_rewrites_while_velero_copies_it(
    env: str, shipped: dict[str, Rendered]
) -> None:
    """Velero's backup hooks on the Redis pod (read as internal/hook/item_hook_handler.go reads
    them: a JSON array, a container of the pod, Fail or Continue, a Go duration): automatic AOF
    rewrites off (and one in progress waited for) before the copy, Redis' default back after."""
    redis = redis_statefulset(shipped[env])
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


# --- The checks fail when they should ------------------------------------------------------------


def test_a_bucket_that_is_not_the_stacks_is_named_with_both_values(
    shipped: dict[str, Rendered],
) -> None:
    rendered, values = patched(shipped, "prod")
    values["configuration"]["backupStorageLocation"][0]["bucket"] = "talos-platform-staging-backups"
    problems = gitops.platform_problems("prod", rerender(rendered), stack("prod"))
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
    rendered, values = patched(shipped, "staging")
    location = values["configuration"]["backupStorageLocation"][0]
    location["prefix"] = "backups"
    location["config"]["s3ForcePathStyle"] = "false"
    values["credentials"]["existingSecret"] = "cloud-credentials"
    values["credentials"]["secretContents"] = {"cloud": "aws_secret_access_key=hunter2"}
    values["snapshotsEnabled"] = True
    problems = gitops.platform_problems("staging", rerender(rendered), stack("staging"))
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
