"""The off-site backup: the R2 bucket and its lifecycle, a token that reaches that bucket's
objects and nothing else, the credentials handed to the cluster as secrets, and the control
planes' Talos API access for the snapshot job."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from components.backup.bucket import ITEM_PERMISSION_GROUPS, bucket_resource, s3_secret_access_key
from components.backup.manifests import aws_credentials_file
from offline.answers.cloudflare import PERMISSION_GROUPS, api_token_value
from offline.graph import plan_document
from offline.recorder import secret_digest
from tests.conftest import STACKS, by_type, recorded, stack_values, structured

COMPONENT = "talos-platform:backup:OffsiteBackup"
ACCOUNT_WIDE = {gid for gid, name, _ in PERMISSION_GROUPS if "Bucket Item" not in name}


def _one(run, token: str, name: str):
    [found] = [r for r in by_type(run, token) if r.name == name]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_its_bucket_in_its_account(stack: str) -> None:
    values, _ = stack_values(stack)
    backup, cloudflare = structured(values, "backup"), structured(values, "cloudflare")
    run = recorded(stack)
    bucket = _one(run, "cloudflare:index/r2Bucket:R2Bucket", "backup-bucket")
    assert bucket.inputs["name"] == backup["bucket"]
    assert bucket.inputs["accountId"] == cloudflare["account_id"]
    assert bucket.inputs["jurisdiction"] == "default"
    assert bucket.protect is (stack == "prod")
    [component] = by_type(run, COMPONENT)
    assert bucket.parent == component.urn
    assert run.outputs["backup"]["bucket"] == backup["bucket"]
    assert run.outputs["backup"]["s3_endpoint"] == (
        f"https://{cloudflare['account_id']}.r2.cloudflarestorage.com"
    )


def test_the_lifecycle_expires_etcd_snapshots_and_never_velero_objects() -> None:
    """Velero's kopia repository is deduplicated: expiring its objects by age would break the
    backups that still refer to them."""
    run = recorded("prod")
    lifecycle = _one(
        run, "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", "backup-lifecycle"
    )
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    expire = rules["expire-etcd-snapshots"]
    assert expire["conditions"] == {"prefix": "etcd/"}
    assert expire["deleteObjectsTransition"]["condition"] == {"type": "Age", "maxAge": 30 * 86_400}
    deleting = [r for r in rules.values() if "deleteObjectsTransition" in r]
    assert [r["conditions"]["prefix"] for r in deleting] == ["etcd/"]
    abort = rules["abort-incomplete-uploads"]["abortMultipartUploadsTransition"]
    assert abort["condition"] == {"type": "Age", "maxAge": 86_400}
    bucket = _one(run, "cloudflare:index/r2Bucket:R2Bucket", "backup-bucket")
    assert bucket.urn in lifecycle.dependencies


def test_the_retention_follows_the_stack_config() -> None:
    values, _ = stack_values("dev")
    backup = {**structured(values, "backup"), "etcd_retention_days": 3}
    values = {**values, "talos-platform:backup": json.dumps(backup)}
    lifecycle = _one(
        recorded("dev", values),
        "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
        "backup-lifecycle",
    )
    [expire] = [r for r in lifecycle.inputs["rules"] if r["id"] == "expire-etcd-snapshots"]
    assert expire["deleteObjectsTransition"]["condition"]["maxAge"] == 3 * 86_400


@pytest.mark.parametrize("stack", STACKS)
def test_the_token_reaches_the_objects_of_one_bucket_only(stack: str) -> None:
    values, _ = stack_values(stack)
    backup, cloudflare = structured(values, "backup"), structured(values, "cloudflare")
    run = recorded(stack)
    token = _one(run, "cloudflare:index/accountToken:AccountToken", "backup-token")
    assert token.inputs["accountId"] == cloudflare["account_id"]
    assert token.inputs["name"] == f"talos-platform-{stack}-backup"
    [policy] = token.inputs["policies"]
    assert policy["effect"] == "allow"
    assert json.loads(policy["resources"]) == {
        bucket_resource(cloudflare["account_id"], "default", backup["bucket"]): "*"
    }
    granted = {g["id"] for g in policy["permissionGroups"]}
    by_name = {name: gid for gid, name, _ in PERMISSION_GROUPS}
    assert granted == {by_name[name] for name in ITEM_PERMISSION_GROUPS}
    assert not granted & ACCOUNT_WIDE
    assert "value" in token.additional_secret_outputs
    assert "condition" not in token.inputs and "expiresOn" not in token.inputs


def test_an_eu_bucket_is_named_with_its_jurisdiction_everywhere() -> None:
    values, _ = stack_values("staging")
    account = structured(values, "cloudflare")["account_id"]
    backup = {**structured(values, "backup"), "jurisdiction": "eu", "location": "weur"}
    values = {**values, "talos-platform:backup": json.dumps(backup)}
    run = recorded("staging", values)
    bucket = _one(run, "cloudflare:index/r2Bucket:R2Bucket", "backup-bucket")
    assert (bucket.inputs["jurisdiction"], bucket.inputs["location"]) == ("eu", "weur")
    token = _one(run, "cloudflare:index/accountToken:AccountToken", "backup-token")
    [key] = json.loads(token.inputs["policies"][0]["resources"])
    assert key == f"com.cloudflare.edge.r2.bucket.{account}_eu_{backup['bucket']}"
    target = _one(run, "kubernetes:core/v1:ConfigMap", "backup-etcd-backup-target")
    assert target.inputs["data"]["CUSTOM_S3_ENDPOINT"] == (
        f"https://{account}.eu.r2.cloudflarestorage.com"
    )


def test_the_cluster_gets_the_tokens_s3_credentials_as_secrets() -> None:
    """R2: access key id = the token's id, secret access key = SHA-256 of its value."""
    run = recorded("prod")
    token = _one(run, "cloudflare:index/accountToken:AccountToken", "backup-token")
    token_id = hashlib.sha256(
        f"cloudflare:index/accountToken:AccountToken/{token.inputs['accountId']}/backup-token".encode()
    ).hexdigest()[:32]
    secret_key = hashlib.sha256(api_token_value(token_id).encode()).hexdigest()
    velero = _one(run, "kubernetes:core/v1:Secret", "backup-velero-credentials")
    assert velero.inputs["metadata"] == {
        "name": "velero-r2",
        "namespace": "velero",
        "labels": velero.inputs["metadata"]["labels"],
    }
    assert velero.secret_digests["stringData"] == secret_digest(
        {"cloud": aws_credentials_file(token_id, secret_key)}
    )
    etcd = _one(run, "kubernetes:core/v1:Secret", "backup-etcd-backup-credentials")
    assert etcd.inputs["metadata"]["namespace"] == "etcd-backup"
    assert etcd.secret_digests["stringData"] == secret_digest(
        {"AWS_ACCESS_KEY_ID": token_id, "AWS_SECRET_ACCESS_KEY": secret_key}
    )
    assert token.urn in velero.dependencies and token.urn in etcd.dependencies
    text = json.dumps(plan_document(run))
    assert secret_key not in text and api_token_value(token_id) not in text
    assert run.outputs["backup_s3_credentials"] == "[secret]"


def test_velero_gets_its_own_repository_password_kept_in_state() -> None:
    run = recorded("prod")
    password = _one(run, "random:index/randomPassword:RandomPassword", "backup-repository-password")
    assert password.protect and password.inputs["length"] >= 32
    secret = _one(run, "kubernetes:core/v1:Secret", "backup-velero-repository")
    assert secret.inputs["metadata"]["name"] == "velero-repo-credentials"
    assert secret.inputs["stringData"] in ("[secret]", {"repository-password": "[secret]"})
    assert password.urn in secret.dependencies


def test_talos_backup_reads_bucket_endpoint_and_key_from_the_stack() -> None:
    values, _ = stack_values("prod")
    backup, cloudflare = structured(values, "backup"), structured(values, "cloudflare")
    target = _one(recorded("prod"), "kubernetes:core/v1:ConfigMap", "backup-etcd-backup-target")
    data = target.inputs["data"]
    assert data["BUCKET"] == backup["bucket"]
    assert data["AGE_X25519_PUBLIC_KEY"] == backup["age_recipient"]
    assert (
        data["CUSTOM_S3_ENDPOINT"] == f"https://{cloudflare['account_id']}.r2.cloudflarestorage.com"
    )
    assert (data["AWS_REGION"], data["S3_PREFIX"], data["CLUSTER_NAME"]) == ("auto", "etcd", "prod")
    # talos-backup v0.1.0-beta.3 turns path style on for "false" (pkg/config/service.go).
    assert data["USE_PATH_STYLE"] == "false"


def test_namespaces_admit_what_their_add_on_runs_and_come_first() -> None:
    run = recorded("prod")
    labels = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in by_type(run, "kubernetes:core/v1:Namespace")
    }
    assert labels["velero"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["etcd-backup"]["pod-security.kubernetes.io/enforce"] == "restricted"
    [component] = by_type(run, COMPONENT)
    root = _one(run, "kubernetes:argoproj.io/v1alpha1:Application", "argocd-root")
    in_cluster = [
        r
        for r in run.registrations
        if r.parent == component.urn and r.type.startswith("kubernetes:")
    ]
    assert len(in_cluster) == 6
    kubernetes_provider = next(r.urn for r in run.registrations if r.name == "kubernetes-provider")
    for resource in in_cluster:
        assert resource.provider.startswith(kubernetes_provider)
        assert resource.urn in root.dependencies or component.urn in root.dependencies


def test_only_control_planes_let_the_backup_namespace_take_snapshots() -> None:
    seen = set()
    for call in recorded("prod").invokes:
        if call.token != "talos:machine/getConfiguration:getConfiguration":
            continue
        patches = [yaml.safe_load(p) for p in call.args["configPatches"]]
        [features] = [p["machine"]["features"] for p in patches if "machine" in p]
        access = features.get("kubernetesTalosAPIAccess")
        seen.add(call.args["machineType"])
        if call.args["machineType"] == "controlplane":
            assert access == {
                "enabled": True,
                "allowedRoles": ["os:etcd:backup"],
                "allowedKubernetesNamespaces": ["etcd-backup"],
            }
        else:
            assert access is None
    assert seen == {"controlplane", "worker"}


@pytest.mark.parametrize(("retention", "locked_days"), [(30, 7), (3, 3)])
def test_etcd_snapshots_are_locked_against_deletion(retention: int, locked_days: int) -> None:
    """A cluster credential that leaks (it may delete objects) cannot wipe the snapshots of the
    last week; Velero's prefix stays unlocked, its maintenance deletes there."""
    values, _ = stack_values("prod")
    backup = {**structured(values, "backup"), "etcd_retention_days": retention}
    values = {**values, "talos-platform:backup": json.dumps(backup)}
    lock = _one(
        recorded("prod", values), "cloudflare:index/r2BucketLock:R2BucketLock", "backup-lock"
    )
    assert lock.inputs["rules"] == [
        {
            "id": "keep-etcd-snapshots",
            "enabled": True,
            "prefix": "etcd/",
            "condition": {"type": "Age", "maxAgeSeconds": locked_days * 86_400},
        }
    ]


def test_a_jurisdiction_change_makes_a_new_bucket_before_talos_backup_points_at_it() -> None:
    """The provider would edit the bucket in place (no RequiresReplace on jurisdiction)."""
    run = recorded("prod")
    for token, name in [
        ("cloudflare:index/r2Bucket:R2Bucket", "backup-bucket"),
        ("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", "backup-lifecycle"),
        ("cloudflare:index/r2BucketLock:R2BucketLock", "backup-lock"),
    ]:
        assert _one(run, token, name).replace_on_changes == ["jurisdiction"]
    bucket = _one(run, "cloudflare:index/r2Bucket:R2Bucket", "backup-bucket")
    target = _one(run, "kubernetes:core/v1:ConfigMap", "backup-etcd-backup-target")
    assert bucket.urn in target.dependencies


def test_the_token_lists_only_bucket_scoped_permission_groups() -> None:
    [call] = [
        i
        for i in recorded("prod").invokes
        if i.token.endswith("getAccountApiTokenPermissionGroupsList")
    ]
    assert call.args["scope"] == "com.cloudflare.edge.r2.bucket"


def test_an_imported_token_without_its_value_fails_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="--target-replace"):
        s3_secret_access_key(None)
