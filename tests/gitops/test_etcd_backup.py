"""The etcd snapshots (gitops/platform/etcd-backup, docs/platform.md "etcd snapshots"): in every
environment the CronJob `talos-backup` reads the Secret and ConfigMap the Pulumi program writes
(components/backup), mounts the talosconfig Talos writes for its Talos ServiceAccount (role
os:etcd:backup only), runs on the environment's schedule (prod at least hourly) and passes the
Pod Security the program's namespace enforces; the talos.dev ServiceAccount is validated against
Talos' own CRD."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.backup.names import (
    ETCD_BACKUP_CREDENTIALS,
    ETCD_BACKUP_NAMESPACE,
    ETCD_BACKUP_ROLE,
    ETCD_BACKUP_TARGET,
)
from offline.validators import gitops
from offline.validators.cron import gaps as cron_gaps
from offline.validators.monitoring.pod_security import namespace_levels, pod_security_problems
from tests.gitops.conftest import find

IMAGE = "ghcr.io/siderolabs/talos-backup:v0.1.0-beta.3"
NAME = "talos-backup"
#: Where Talos' client looks for a talosconfig inside a pod (siderolabs/talos v1.13.9
#: pkg/machinery/constants/constants.go, ServiceAccountMountPath), and the key of the Secret it
#: writes for a talos.dev ServiceAccount (TalosconfigFilename).
TALOS_MOUNT = "/var/run/secrets/talos.dev"
TALOSCONFIG_KEY = "config"
#: The environment variables talos-backup v0.1.0-beta.3 reads (pkg/config/service.go), with the
#: AWS SDK's credentials (the Secret) and the checksum settings R2 needs.
TARGET_KEYS = {
    "BUCKET",
    "CUSTOM_S3_ENDPOINT",
    "AWS_REGION",
    "S3_PREFIX",
    "CLUSTER_NAME",
    "AGE_X25519_PUBLIC_KEY",
    "USE_PATH_STYLE",
}
#: The longest a snapshot may be waited for, in minutes, per environment.
LONGEST_INTERVAL = {"dev": 6 * 60, "staging": 3 * 60, "prod": 60}
#: etcd's default quota, which Talos keeps (no --quota-backend-bytes in siderolabs/talos v1.13.9
#: internal/app/machined/pkg/system/services/etcd.go; etcd server/storage/quota.go).
ETCD_QUOTA = 2 << 30


def folder(env: str) -> str:
    return f"gitops/platform/etcd-backup/envs/{env}"


def cronjob(rendered: dict[str, Any], env: str) -> dict[str, Any]:
    [job] = [o for o in rendered[env][folder(env)] if o["kind"] == "CronJob"]
    return job


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


# --- Cron schedules ----------------------------------------------------------------------------


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_the_cronjob_reads_the_programs_secret_and_configmap(
    rendered: dict[str, Any], env: str
) -> None:
    app = find(rendered[env], "Application", "etcd-backup")
    assert app["spec"]["destination"]["namespace"] == ETCD_BACKUP_NAMESPACE
    assert app["spec"]["source"]["path"] == folder(env)
    job = cronjob(rendered, env)
    assert job["metadata"]["namespace"] == ETCD_BACKUP_NAMESPACE
    [container] = pod_spec(job)["containers"]
    assert container["image"] == IMAGE
    assert container["envFrom"] == [
        {"secretRef": {"name": ETCD_BACKUP_CREDENTIALS}},
        {"configMapRef": {"name": ETCD_BACKUP_TARGET}},
    ]
    assert "env" not in container  # everything from the program, nothing set twice
    assert container["workingDir"] == "/tmp"


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_the_talosconfig_is_the_secret_talos_writes_for_its_service_account(
    rendered: dict[str, Any], env: str
) -> None:
    objects = rendered[env][folder(env)]
    [account] = [o for o in objects if o["apiVersion"] == "talos.dev/v1alpha1"]
    assert (account["kind"], account["metadata"]["name"]) == ("ServiceAccount", NAME)
    assert account["spec"]["roles"] == [ETCD_BACKUP_ROLE] == ["os:etcd:backup"]
    # Talos writes the Secret itself and refuses one it does not own: none in the tree.
    assert not [o for o in objects if o["kind"] == "Secret"]
    spec = pod_spec(cronjob(rendered, env))
    [volume] = [v for v in spec["volumes"] if "secret" in v]
    assert volume["secret"] == {"secretName": account["metadata"]["name"]}
    [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert (mount["mountPath"], mount.get("readOnly"), mount.get("subPath")) == (
        TALOS_MOUNT,
        True,
        None,  # a subPath mount would never see the renewed certificate
    )
    assert TALOSCONFIG_KEY == "config"  # the file talosconfig.Open("") reads there


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_the_schedule_of_each_environment(rendered: dict[str, Any], env: str) -> None:
    spec = cronjob(rendered, env)["spec"]
    shortest, longest = cron_gaps(spec["schedule"])
    assert longest <= LONGEST_INTERVAL[env]
    assert spec["timeZone"] == "Etc/UTC"
    # One run at a time, and a run ends (retries included) before the next is due: Forbid
    # never skips one.
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] < shortest * 60
    assert 0 < spec["startingDeadlineSeconds"] < shortest * 60
    assert job["backoffLimit"] >= 1
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_prod_snapshots_hourly(rendered: dict[str, Any]) -> None:
    assert cronjob(rendered, "prod")["spec"]["schedule"] == "0 * * * *"
    assert cron_gaps(cronjob(rendered, "prod")["spec"]["schedule"])[1] <= 60


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_a_failed_backup_does_not_hold_up_the_platform(rendered: dict[str, Any], env: str) -> None:
    """A failed run makes the CronJob Degraded in Argo CD; its health is ignored, so the platform
    and the apps' wave go on (the backup alerts say it instead), and the add-on is the last
    wave, so one that cannot sync holds up no other add-on."""
    annotations = cronjob(rendered, env)["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/ignore-healthcheck"] == "true"
    waves = {
        o["metadata"]["name"]: int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for o in rendered[env][gitops.platform_path(env)]
        if o["kind"] == "Application"
    }
    assert waves["etcd-backup"] == max(waves.values())


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_the_pod_is_restricted_and_sized_for_a_full_etcd(
    rendered: dict[str, Any], env: str
) -> None:
    spec = pod_spec(cronjob(rendered, env))
    assert pod_security_problems(spec, "restricted") == []
    assert spec["automountServiceAccountToken"] is False
    [container] = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory", "ephemeral-storage"}
    assert "memory" in resources["limits"]
    [tmp] = [v for v in spec["volumes"] if "emptyDir" in v]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == tmp["name"]]
    assert mount["mountPath"] == container["workingDir"]
    # The snapshot and its encrypted copy, each up to etcd's quota, side by side.
    size = tmp["emptyDir"]["sizeLimit"]
    assert size.endswith("Gi") and int(size[:-2]) << 30 > 2 * ETCD_QUOTA
    # ... on the node's disk: requested (the scheduler places the pod where that much is free)
    # and bounded, both the size of the emptyDir.
    assert resources["requests"]["ephemeral-storage"] == size
    assert resources["limits"]["ephemeral-storage"] == size


# --- The program's side ------------------------------------------------------------------------


def test_the_program_writes_what_the_cronjob_reads() -> None:
    """The namespace enforces Pod Security `restricted`, which the CronJob's pod meets; the
    ConfigMap holds every setting talos-backup reads, with path-style addressing on (R2) and
    encryption on."""
    from tests.offline.test_storage_binding import shipped_objects

    objects = [o for o in shipped_objects("prod") if o.namespace == ETCD_BACKUP_NAMESPACE]
    by_kind = {(o.manifest["kind"], o.manifest["metadata"]["name"]): o.manifest for o in objects}
    namespace = next(
        o.manifest
        for o in shipped_objects("prod")
        if o.manifest["kind"] == "Namespace"
        and o.manifest["metadata"]["name"] == ETCD_BACKUP_NAMESPACE
    )
    level = namespace_levels(namespace["metadata"]["labels"])["enforce"]
    assert level == "restricted"
    job = by_kind[("CronJob", NAME)]
    assert pod_security_problems(pod_spec(job), level) == []
    assert ("Secret", ETCD_BACKUP_CREDENTIALS) in by_kind
    target = by_kind[("ConfigMap", ETCD_BACKUP_TARGET)]["data"]
    assert set(target) >= TARGET_KEYS
    # pkg/config/service.go: `UsePathStyle: os.Getenv("USE_PATH_STYLE") == "false"`.
    assert target["USE_PATH_STYLE"] == "false"
    assert target.get("DISABLE_ENCRYPTION") != "true"
    assert target["AGE_X25519_PUBLIC_KEY"].startswith("age1")


# --- The Talos ServiceAccount's schema ---------------------------------------------------------

ACCOUNT = {
    "apiVersion": "talos.dev/v1alpha1",
    "kind": "ServiceAccount",
    "metadata": {"name": NAME, "namespace": ETCD_BACKUP_NAMESPACE},
    "spec": {"roles": ["os:etcd:backup"]},
}


def _problems(obj: dict[str, Any]) -> list[str]:
    return [f"{p.field}: {p.message}" for p in gitops.validate_manifest(obj, "v1.36.2", "sa.yaml")]


def test_the_talos_service_account_is_validated_against_talos_crd() -> None:
    assert _problems(ACCOUNT) == []
    misspelled = copy.deepcopy(ACCOUNT)
    misspelled["spec"]["role"] = misspelled["spec"].pop("roles")
    assert _problems(misspelled) == ["spec.role: unknown field 'role'; did you mean 'roles'?"]
    wrong_type = copy.deepcopy(ACCOUNT)
    wrong_type["spec"]["roles"] = "os:etcd:backup"
    assert _problems(wrong_type) == ["spec.roles: 'os:etcd:backup' is not of type 'array'"]
    extra = copy.deepcopy(ACCOUNT)
    extra["metadata"]["labelz"] = {}
    assert [p for p in _problems(extra) if p.startswith("metadata")] == [
        "metadata.labelz: unknown field 'labelz'; did you mean 'labels'?"
    ]


def test_other_talos_kinds_and_versions_have_no_schema() -> None:
    unknown = {**ACCOUNT, "kind": "Account"}
    assert _problems(unknown) == [
        "apiVersion: no schema for Account talos.dev/v1alpha1: no vendored talos.dev CRD for "
        "Account"
    ]
    other_version = {**ACCOUNT, "apiVersion": "talos.dev/v1beta1"}
    assert _problems(other_version) == [
        "apiVersion: no schema for ServiceAccount talos.dev/v1beta1: the vendored CRD of "
        "ServiceAccount serves talos.dev/v1alpha1, not talos.dev/v1beta1"
    ]
