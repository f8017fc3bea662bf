"""What the backup add-ons of the GitOps tree need from the program in the cluster: their
namespaces, the bucket's credentials as Secrets, and talos-backup's settings. Plain manifests,
built here and registered by the component (and validated offline like every object)."""

from __future__ import annotations

from typing import Any

from ..kubernetes import Manifest, secret_manifest
from .names import (
    ETCD_BACKUP_CREDENTIALS,
    ETCD_BACKUP_NAMESPACE,
    ETCD_BACKUP_TARGET,
    ETCD_PREFIX,
    VELERO_CREDENTIALS,
    VELERO_CREDENTIALS_KEY,
    VELERO_NAMESPACE,
    VELERO_REPOSITORY_KEY,
    VELERO_REPOSITORY_SECRET,
)

LABELS = {"app.kubernetes.io/part-of": "backup", "app.kubernetes.io/managed-by": "pulumi"}
S3_REGION = "auto"
"""R2's region for S3 clients (R2 docs, "S3 API compatibility": `auto`)."""


def namespace_manifest(name: str, pod_security: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                **LABELS,
                "pod-security.kubernetes.io/enforce": pod_security,
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def velero_namespace() -> Manifest:
    """Privileged: Velero's node agent reads every pod's volumes from the host
    (/var/lib/kubelet/pods, the velero chart's `templates/node-agent-daemonset.yaml`)."""
    return namespace_manifest(VELERO_NAMESPACE, "privileged")


def etcd_backup_namespace() -> Manifest:
    """Restricted: talos-backup needs no privilege, only its Talos API credentials, which Talos
    hands to pods of this namespace alone (the control planes' `kubernetesTalosAPIAccess`)."""
    return namespace_manifest(ETCD_BACKUP_NAMESPACE, "restricted")


def aws_credentials_file(access_key_id: str, secret_access_key: str) -> str:
    """An AWS shared-credentials file, what the velero AWS plugin reads
    (velero-io/velero-plugin-for-aws v1.14.2 README, "Set permissions for Velero")."""
    return (
        f"[default]\naws_access_key_id={access_key_id}\naws_secret_access_key={secret_access_key}\n"
    )


def velero_credentials(credentials_file: Any) -> Manifest:
    return secret_manifest(
        VELERO_CREDENTIALS, VELERO_NAMESPACE, LABELS, {VELERO_CREDENTIALS_KEY: credentials_file}
    )


def velero_repository_password(password: Any) -> Manifest:
    return secret_manifest(
        VELERO_REPOSITORY_SECRET, VELERO_NAMESPACE, LABELS, {VELERO_REPOSITORY_KEY: password}
    )


def etcd_backup_credentials(access_key_id: Any, secret_access_key: Any) -> Manifest:
    return secret_manifest(
        ETCD_BACKUP_CREDENTIALS,
        ETCD_BACKUP_NAMESPACE,
        LABELS,
        {"AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key},
    )


def etcd_backup_target(
    bucket: Any, endpoint: str, cluster_name: str, age_recipient: str
) -> Manifest:
    """talos-backup's settings (siderolabs/talos-backup v0.1.0-beta.3
    `pkg/config/service.go`), read with `envFrom` by its CronJob."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ETCD_BACKUP_TARGET,
            "namespace": ETCD_BACKUP_NAMESPACE,
            "labels": LABELS,
        },
        "data": {
            "BUCKET": bucket,
            "CUSTOM_S3_ENDPOINT": endpoint,
            "AWS_REGION": S3_REGION,
            "S3_PREFIX": ETCD_PREFIX,
            "CLUSTER_NAME": cluster_name,
            "AGE_X25519_PUBLIC_KEY": age_recipient,
            # Path-style requests (https://<endpoint>/<bucket>/...). The release reads the
            # variable backwards: `UsePathStyle: os.Getenv("USE_PATH_STYLE") == "false"`
            # (v0.1.0-beta.3 pkg/config/service.go; the sample CronJob says the same), so
            # "false" turns path style on.
            "USE_PATH_STYLE": "false",
            # The AWS SDK for Go v2 of that release (service/s3 v1.76.0) adds CRC32 checksums
            # to every upload by default; ask for them only where S3 requires them, the
            # setting Cloudflare gives for R2 and SDKs of that age (aws-sdk-go-v2 config
            # v1.29: AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION).
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        },
    }
