"""Off-site backups: the R2 bucket, its scoped credential, and what the backup add-ons of the
GitOps tree (Velero, talos-backup) need from the program."""

from .offsite import OffsiteBackup, OffsiteBackupArgs

__all__ = ["OffsiteBackup", "OffsiteBackupArgs"]
