"""Off-site backups: the R2 bucket, its scoped credential, and what the backup add-ons of the
GitOps tree (Velero, talos-backup) need from the program. The component is in `offsite.py`;
`names.py` (what the program and the tree share) imports nothing, so validators and the Talos
documents read it without loading the Cloudflare SDK."""
