"""The off-site side: an R2 bucket, its lifecycle, and an account API token that may only read
and write that bucket's objects, turned into S3 credentials.

What the Cloudflare provider does with these (cloudflare/terraform-provider-cloudflare v5.22.0,
`internal/services/`):
- `r2_bucket`: `name`, `account_id` replace the bucket; `location` is only honoured at creation
  (a later change is planned away: the plan keeps the state's value, `locationIgnorePlanModifier`);
  `jurisdiction` defaults to "default" and has no RequiresReplace (the component replaces the
  bucket on a change itself).
- `r2_bucket_lifecycle`: the whole rule list is PUT at once (it replaces the bucket's default
  rule, which aborts multipart uploads after 7 days).
- `account_token`: `account_id` replaces it; `name` and `policies` update in place; `value` is
  only returned at creation (UseStateForUnknown), so the S3 secret derived from it is stable
  for the token's life. A token rolled or revoked in the dashboard is not seen by a refresh
  (`Read` keeps the state's value): rotate it with `pulumi up --target-replace <its URN>
  --target-dependents` (docs/recovery.md). The program's own API token must hold "Account API
  Tokens: Edit" to create it and "Workers R2 Storage: Edit" for the bucket (README,
  prerequisites).
- `r2_bucket_lock`: the whole rule list is PUT at once, like the lifecycle.

R2's S3 credentials of an API token (R2 docs, "Authentication": "Get S3 API credentials from an
API token"): the access key id is the token's id, the secret access key the SHA-256 (hex) of its
value. The token holds the two bucket-item permission groups on one bucket resource,
`com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>`: it can list, read, write and
delete objects of that bucket, and nothing else (no other bucket, no bucket settings, no other
Cloudflare API).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from .names import ETCD_PREFIX

ITEM_PERMISSION_GROUPS = (
    "Workers R2 Storage Bucket Item Read",
    "Workers R2 Storage Bucket Item Write",
)
"""Object read and write on one bucket: what the dashboard's "Object Read & Write" R2 token
holds. Not "Workers R2 Storage Write", which is every bucket of the account and its settings."""
BUCKET_SCOPE = "com.cloudflare.edge.r2.bucket"
"""The scope of the bucket-level permission groups: the listing asks for these only."""
DAY_SECONDS = 86_400
LOCK_DAYS = 7
"""An etcd snapshot cannot be deleted or overwritten for its first week (or its whole retention
if shorter), whoever holds the bucket's credential: a compromised cluster cannot wipe the copies
it would be restored from."""
MULTIPART_ABORT_DAYS = 1
"""An upload cut short (a node lost mid-snapshot) leaves parts that are billed until aborted."""


def bucket_resource(account_id: str, jurisdiction: str, bucket: str) -> str:
    """The token policy's resource key for one bucket (R2 docs, "Authentication")."""
    return f"com.cloudflare.edge.r2.bucket.{account_id}_{jurisdiction}_{bucket}"


def token_resources(account_id: str, jurisdiction: str, bucket: str) -> str:
    """The policy's `resources`: a JSON object (the provider validates it as JSON,
    `account_token/schema.go`, ResourcesValidator)."""
    return json.dumps({bucket_resource(account_id, jurisdiction, bucket): "*"}, sort_keys=True)


def permission_group_ids(groups: list[dict[str, str]] | list[object]) -> list[str]:
    """The ids of ITEM_PERMISSION_GROUPS among the account's permission groups, in that order;
    a missing group is an error naming it (never a broader group instead)."""
    by_name = {_field(g, "name"): _field(g, "id") for g in groups}
    missing = [name for name in ITEM_PERMISSION_GROUPS if name not in by_name]
    if missing:
        raise ValueError(
            f"the Cloudflare account lists no API token permission group {missing!r}: the "
            "program's token needs 'Account API Tokens: Read' to list them"
        )
    return [by_name[name] for name in ITEM_PERMISSION_GROUPS]


def _field(group: object, name: str) -> str:
    return str(group[name] if isinstance(group, dict) else getattr(group, name))


def s3_secret_access_key(token_value: str | None) -> str:
    if not token_value:
        # The provider returns the value at creation only: an imported token has none
        # (`account_token/resource.go`, ImportState).
        raise ValueError(
            "the backup bucket's API token has no value in the state (imported?): replace it "
            "with `pulumi up --target-replace <its URN> --target-dependents` (docs/recovery.md)"
        )
    return hashlib.sha256(token_value.encode()).hexdigest()


def lifecycle_rules(etcd_retention_days: int) -> list[cloudflare.R2BucketLifecycleRuleArgs]:
    """Delete etcd snapshots after the retention; abort stale multipart uploads everywhere.
    Nothing deletes Velero's objects by age: its kopia repository is deduplicated (a new backup
    refers to data written by old ones), so only Velero may prune it (its backups' TTL)."""
    return [
        cloudflare.R2BucketLifecycleRuleArgs(
            id="expire-etcd-snapshots",
            enabled=True,
            conditions=cloudflare.R2BucketLifecycleRuleConditionsArgs(prefix=f"{ETCD_PREFIX}/"),
            delete_objects_transition=cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionArgs(
                condition=cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionConditionArgs(
                    type="Age", max_age=etcd_retention_days * DAY_SECONDS
                )
            ),
        ),
        cloudflare.R2BucketLifecycleRuleArgs(
            id="abort-incomplete-uploads",
            enabled=True,
            conditions=cloudflare.R2BucketLifecycleRuleConditionsArgs(prefix=""),
            abort_multipart_uploads_transition=(
                cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionArgs(
                    condition=(
                        cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionConditionArgs(
                            type="Age", max_age=MULTIPART_ABORT_DAYS * DAY_SECONDS
                        )
                    )
                )
            ),
        ),
    ]


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    """Secret."""


def lock_rules(etcd_retention_days: int) -> list[cloudflare.R2BucketLockRuleArgs]:
    """R2 bucket locks (`r2_bucket_lock/schema.go`): objects under `etcd/` are kept at least
    LOCK_DAYS days (lifecycle rules do not delete a locked object). Not Velero's prefix: its
    repository maintenance deletes there."""
    days = min(LOCK_DAYS, etcd_retention_days)
    return [
        cloudflare.R2BucketLockRuleArgs(
            id="keep-etcd-snapshots",
            enabled=True,
            prefix=f"{ETCD_PREFIX}/",
            condition=cloudflare.R2BucketLockRuleConditionArgs(
                type="Age", max_age_seconds=days * DAY_SECONDS
            ),
        )
    ]
