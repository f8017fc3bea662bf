"""The `OffsiteBackup` component: the R2 bucket with its lifecycle and scoped credential, and
what the cluster's backup add-ons need from the program (components/backup/manifests.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from .. import type_token
from ..kubernetes import register
from . import manifests
from .bucket import (
    BUCKET_SCOPE,
    lifecycle_rules,
    lock_rules,
    permission_group_ids,
    s3_secret_access_key,
    token_resources,
)
from .names import ETCD_PREFIX, VELERO_PREFIX

REPOSITORY_PASSWORD_LENGTH = 48


@dataclass(frozen=True)
class OffsiteBackupArgs:
    account_id: str
    bucket: str
    jurisdiction: str
    location: str | None
    s3_endpoint: str
    etcd_retention_days: int
    age_recipient: str
    cluster_name: str
    token_name: str
    """The API token's name in the account: `<project>-<stack>-backup`, to tell stacks apart."""
    cloudflare_provider: pulumi.ProviderResource
    k8s_provider: pulumi.ProviderResource
    protect: bool = False
    """Protect the bucket and the repository password (prod): losing either loses the backups."""


class OffsiteBackup(pulumi.ComponentResource):
    """An R2 bucket for etcd snapshots and Velero's backups, a token limited to it, and the
    `velero` and `etcd-backup` namespaces with their credentials."""

    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    """Secret: the S3 secret access key of the bucket's token."""
    summary: dict[str, str]
    """Where the backups are, for the stack output `backup` (nothing secret)."""

    def __init__(
        self, name: str, args: OffsiteBackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("backup", "OffsiteBackup"), name, {}, opts)
        at_cloudflare = pulumi.ResourceOptions(parent=self, provider=args.cloudflare_provider)
        bucket = cloudflare.R2Bucket(
            f"{name}-bucket",
            account_id=args.account_id,
            name=args.bucket,
            jurisdiction=args.jurisdiction,
            location=args.location,
            # A jurisdiction is where the bucket lives: the provider would edit it in place
            # (no RequiresReplace, `r2_bucket/schema.go`; Update sends the new jurisdiction for
            # a bucket that is not there), so a change makes a new bucket, which prod's protect
            # refuses.
            opts=pulumi.ResourceOptions.merge(
                at_cloudflare,
                pulumi.ResourceOptions(protect=args.protect, replace_on_changes=["jurisdiction"]),
            ),
        )
        in_bucket = pulumi.ResourceOptions.merge(
            at_cloudflare, pulumi.ResourceOptions(replace_on_changes=["jurisdiction"])
        )
        cloudflare.R2BucketLifecycle(
            f"{name}-lifecycle",
            account_id=args.account_id,
            bucket_name=bucket.name,
            jurisdiction=args.jurisdiction,
            rules=lifecycle_rules(args.etcd_retention_days),
            opts=in_bucket,
        )
        cloudflare.R2BucketLock(
            f"{name}-lock",
            account_id=args.account_id,
            bucket_name=bucket.name,
            jurisdiction=args.jurisdiction,
            rules=lock_rules(args.etcd_retention_days),
            opts=in_bucket,
        )
        groups = cloudflare.get_account_api_token_permission_groups_list_output(
            account_id=args.account_id,
            scope=BUCKET_SCOPE,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=args.cloudflare_provider),
        )
        # The resource key names the bucket as configured; `bucket.name` orders the token
        # after the bucket, whose name it is.
        token = cloudflare.AccountToken(
            f"{name}-token",
            account_id=args.account_id,
            name=args.token_name,
            policies=[
                cloudflare.AccountTokenPolicyArgs(
                    effect="allow",
                    permission_groups=groups.results.apply(
                        lambda found: [
                            cloudflare.AccountTokenPolicyPermissionGroupArgs(id=group_id)
                            for group_id in permission_group_ids(found)
                        ]
                    ),
                    resources=bucket.name.apply(
                        lambda b: token_resources(args.account_id, args.jurisdiction, b)
                    ),
                )
            ],
            opts=pulumi.ResourceOptions.merge(
                at_cloudflare, pulumi.ResourceOptions(additional_secret_outputs=["value"])
            ),
        )
        self.access_key_id = token.id
        self.secret_access_key = pulumi.Output.secret(token.value.apply(s3_secret_access_key))

        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        velero_ns = register(f"{name}-velero-namespace", manifests.velero_namespace(), in_cluster)
        etcd_ns = register(
            f"{name}-etcd-backup-namespace", manifests.etcd_backup_namespace(), in_cluster
        )
        in_velero = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[velero_ns])
        )
        in_etcd_backup = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[etcd_ns])
        )
        credentials_file = pulumi.Output.secret(
            pulumi.Output.all(self.access_key_id, self.secret_access_key).apply(
                lambda keys: manifests.aws_credentials_file(keys[0], keys[1])
            )
        )
        register(
            f"{name}-velero-credentials",
            manifests.velero_credentials(credentials_file),
            in_velero,
        )
        # Velero's kopia repository is encrypted with this password: the same one must be there
        # to read the backups after a rebuild, so it lives in the stack's state, drawn once.
        password = random.RandomPassword(
            f"{name}-repository-password",
            length=REPOSITORY_PASSWORD_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, additional_secret_outputs=["result"]
            ),
        )
        register(
            f"{name}-velero-repository",
            manifests.velero_repository_password(pulumi.Output.secret(password.result)),
            in_velero,
        )
        register(
            f"{name}-etcd-backup-credentials",
            manifests.etcd_backup_credentials(self.access_key_id, self.secret_access_key),
            in_etcd_backup,
        )
        # From the bucket's output: rewritten only once a new bucket (another name or
        # jurisdiction) exists.
        register(
            f"{name}-etcd-backup-target",
            manifests.etcd_backup_target(
                bucket.name, args.s3_endpoint, args.cluster_name, args.age_recipient
            ),
            in_etcd_backup,
        )
        self.summary = {
            "bucket": args.bucket,
            "account_id": args.account_id,
            "jurisdiction": args.jurisdiction,
            "s3_endpoint": args.s3_endpoint,
            "etcd_prefix": ETCD_PREFIX,
            "velero_prefix": VELERO_PREFIX,
            "cluster_name": args.cluster_name,
        }
        self.register_outputs({**self.summary, "access_key_id": self.access_key_id})
