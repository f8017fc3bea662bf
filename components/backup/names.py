"""Names the Pulumi program and the GitOps tree (gitops/platform: the velero and etcd-backup
add-ons) share: the namespaces, Secrets and ConfigMap the program writes for the backup add-ons,
and the bucket's prefixes. A test reads the tree against these."""

VELERO_NAMESPACE = "velero"
VELERO_CREDENTIALS = "velero-r2"
"""The chart's `credentials.existingSecret`; key `cloud`, an AWS shared-credentials file."""
VELERO_CREDENTIALS_KEY = "cloud"
VELERO_REPOSITORY_SECRET = "velero-repo-credentials"
"""The kopia repository's password (key `repository-password`): Velero creates this Secret with
a built-in static password unless it exists (vmware-tanzu/velero v1.18.1
`pkg/repository/keys/keys.go`, EnsureCommonRepositoryKey), so the program writes its own."""
VELERO_REPOSITORY_KEY = "repository-password"
VELERO_PREFIX = "velero"
"""Velero's objects in the bucket (the BackupStorageLocation's `prefix`)."""

ETCD_BACKUP_NAMESPACE = "etcd-backup"
ETCD_BACKUP_CREDENTIALS = "etcd-backup-r2"
"""Keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: talos-backup reads them from its
environment (the AWS SDK's default chain)."""
ETCD_BACKUP_TARGET = "etcd-backup-target"
"""A ConfigMap of talos-backup's other environment variables (bucket, endpoint, prefix, key)."""
ETCD_PREFIX = "etcd"
"""talos-backup's `S3_PREFIX`: snapshots are `etcd/<cluster>-<RFC 3339 time>.snap.age`
(siderolabs/talos-backup v0.1.0-beta.3 `pkg/talos/talos.go`, `pkg/s3/s3.go`)."""
ETCD_BACKUP_ROLE = "os:etcd:backup"
"""The only Talos API role the control planes let pods of ETCD_BACKUP_NAMESPACE have."""
