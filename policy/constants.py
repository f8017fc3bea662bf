"""What the policies compare against: the environments, the resource types they judge, their
limits, and the names that mark a pod spec or a credential in a resource's inputs."""

from __future__ import annotations

import re

ENVIRONMENTS = ("dev", "staging", "prod")
ENVIRONMENT_CONFIG_KEY = "talos-platform:environment"
SECRET_MARK = "[secret]"
"""How the offline plan shows a secret value."""
UNKNOWN_MARK = "[unknown]"
"""How the offline plan shows a value that is only known after deployment."""

VM = "proxmoxve:index/vmLegacy:VmLegacy"
TALOS_VM_DESCRIPTION = re.compile(r"^Talos (?P<role>\S+) of cluster \S+;")
"""A node VM's description (components/proxmox/vm.py `vm_description`): its role, since VMs
carry no tags (a pool-scoped token could not recreate a tagged VM)."""
TALOS_ROLES = ("controlplane", "worker")
TALOS_SECRETS = "talos:machine/secrets:Secrets"
SERVICE = "kubernetes:core/v1:Service"
K8S_SECRET = "kubernetes:core/v1:Secret"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
ACCESS_APPLICATION = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
ARGO_APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
ARGOCD_CHART = "argo-cd"
SSO_ENVIRONMENTS = ("staging", "prod")
"""Where Argo CD has no local admin account: people log in through SSO only."""
ARGO_APPLICATION_SET = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"
R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
API_TOKENS = ("cloudflare:index/accountToken:AccountToken", "cloudflare:index/apiToken:ApiToken")

PROTECTED_IN_PROD = (VM, TALOS_SECRETS, R2_BUCKET)
R2_BUCKET_RESOURCE = "com.cloudflare.edge.r2.bucket."
"""A token policy's resource key for one R2 bucket: `<prefix><account>_<jurisdiction>_<bucket>`."""
R2_ITEM_PERMISSION_GROUPS = {
    # Cloudflare's permission group ids, the same in every account (the program looks them up
    # by name, components/backup/bucket.py): should Cloudflare ever renumber them, this policy
    # fails closed and the ids here are to be updated.
    "6a018a9f2fc74eb6b293b0c548f38b39": "Workers R2 Storage Bucket Item Read",
    "2efd5506f9c8494dacb1fa10a3e7d5b6": "Workers R2 Storage Bucket Item Write",
}
"""What a token the program creates may hold: object read and write on named buckets."""
QUORUM_ENVIRONMENTS = ("staging", "prod")
MIN_CONTROL_PLANES = 3
PROXIABLE_RECORD_TYPES = ("A", "AAAA", "CNAME")
ADMIN_SERVICE = re.compile(r"^[a-z][a-z0-9+.-]*://argocd-server\.", re.IGNORECASE)

#: Kubernetes kind -> where its pod spec sits.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

#: Inputs whose whole value is a credential, whatever its shape.
WHOLE_SECRET_KEYS = frozenset(
    {
        "kubeconfig",
        "talosconfig",
        "clientconfiguration",
        "machinesecrets",
        "machineconfigurationinput",
        "privatekey",
        "tunnelsecret",
    }
)
#: A string input whose key ends like this is a credential.
SECRET_KEY_SUFFIXES = ("token", "password", "passwd", "secret", "privatekey", "apikey")
#: ... unless it only names one (`existingSecret: argocd-secret`).
SECRET_REFERENCE = re.compile(r"^existing|(ref|name|names)$", re.IGNORECASE)
