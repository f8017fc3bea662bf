"""Typed models of a stack's configuration, one per config key.

Each top-level Pulumi config key of the project (`talos-platform:<key>`) has one model or type here
(`SECTIONS`); `StackConfig` holds them all once they are valid. Unknown nested keys are errors
(`extra="forbid"`), so a typo is reported instead of silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .sso import Subject, TeamDomain
from .types import (
    AgeRecipient,
    ChartVersion,
    CloudflaredVersion,
    CloudflareId,
    DevicePath,
    DnsLabel,
    Domain,
    Email,
    GitRef,
    HttpsUrl,
    IPv4,
    IPv4Net,
    KubernetesVersion,
    PoolId,
    R2BucketName,
    TalosExtension,
    TalosVersion,
)

Environment = Literal["dev", "staging", "prod"]
Role = Literal["controlplane", "worker"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxmoxHost(Model):
    """A Proxmox VE node (host) that may run cluster VMs."""

    name: DnsLabel
    vm_datastore: str = "local-lvm"
    """Datastore for VM disks."""
    image_datastore: str = "local"
    """Datastore (with the `import` content type, Proxmox VE 8.4+) that receives the Talos image."""
    lost: bool = False
    """The host is gone for good: Pulumi forgets its VMs and image file when they are deleted or
    replaced (`retain_on_delete`) instead of asking its dead API (README, "When a Proxmox host
    dies")."""


class ProxmoxConfig(Model):
    endpoint: HttpsUrl
    insecure: bool = False
    """Skip TLS verification of the Proxmox API (self-signed certificates)."""
    region: DnsLabel
    """Name of the Proxmox cluster; nodes get it as `topology.kubernetes.io/region`."""
    hosts: list[ProxmoxHost] = Field(min_length=1)
    pool: PoolId | None = None
    """The Proxmox resource pool of this stack's VMs (default `talos-<cluster_name>`,
    `default_pool`). The stack's API tokens get their VM rights on this pool only
    (`python -m tools.proxmox_access`), so it must be this stack's alone: no other stack, and
    nothing else, in it. An operator creates it once (`pveum pool add`). Changing it moves the
    VMs to the new pool in place (bpg `proxmoxtf/resource/vm/vm.go`, vmUpdatePool), which the
    pool-scoped token cannot do: see docs/proxmox.md."""


class NetworkConfig(Model):
    cidr: IPv4Net
    gateway: IPv4
    vip: IPv4
    """Layer 2 virtual IP shared by the control-plane nodes: the Kubernetes API endpoint."""
    nameservers: list[IPv4] = Field(min_length=1)
    ntp_servers: list[str] = Field(default_factory=lambda: ["time.cloudflare.com"], min_length=1)
    bridge: str = "vmbr0"
    vlan: int | None = Field(default=None, ge=1, le=4094)


# Sizes of a node's VM, bounded by what Proxmox VE and the bpg provider accept, so a value either
# fails here, naming the key, the value and the bound, or is one `pulumi up` can create.
VM_ID_MIN, VM_ID_MAX = 100, 999_999_999
"""Proxmox VE's `pve-vmid` standard option: "<integer> (100 - 999999999)" (proxmox/pve-docs
`api-viewer/apidata.js`; the bpg provider's `VMIDValidator` would let up to 2147483647 through,
`proxmoxtf/resource/vm/validators.go`, and Proxmox then refuses it)."""
CORES_MAX = 2304
"""Cores per socket (the VM has one socket, `components/proxmox/vm.py`). qemu-server's schema has
`cores` minimum 1 and no maximum (proxmox/qemu-server `src/PVE/QemuServer.pm`, `cores`); the start
fails when sockets x cores exceeds the host's CPUs ("MAX $allowed_vcpus vcpus allowed per VM on
this node", same file, `config_to_command`). The bpg provider refuses more than 2304
(`proxmoxtf/resource/vm/vm.go`, `mkCPUCores`: `IntBetween(1, 2304)`)."""
MEMORY_MB_MIN, MEMORY_MB_MAX = 2048, 268_435_456
"""Proxmox accepts 16 MiB and up (qemu-server `src/PVE/QemuServer/Memory.pm`, `$memory_fmt`
`current` minimum 16), the bpg provider 64 MiB to 256 TiB (`proxmoxtf/resource/vm/vm.go`,
`mkMemoryDedicated`: `IntBetween(64, 268435456)`). The floor here is this project's, above what
Talos itself needs of a control plane (siderolabs/talos `pkg/minimal/limits.go`, `Memory`: 1848
MiB) so no node boots too small to join."""
DISK_GB_MIN, DISK_GB_MAX = 10, 8_589_934_591
"""qemu-server takes a new disk's size in GiB with no maximum (`src/PVE/QemuServer/Drive.pm`,
`$NEW_DISK_RE`, format `disk-size`); the bpg provider takes 1 and up (`proxmoxtf/resource/vm/disk/
schema.go`, `mkDiskSize`: `IntAtLeast(1)`) and converts GiB to bytes in an int64
(`proxmox/types/disk_size.go`, `DiskSizeFromGigabytes`: size * 1024^3), which overflows above
2^33 - 1 GiB. The install disk's floor of 10 GiB is this project's, above Talos's minimum
(siderolabs/talos `pkg/minimal/limits.go`, `DiskSize`: 6 GiB)."""
DATA_DISK_GB_MIN = 1
"""bpg `proxmoxtf/resource/vm/disk/schema.go`, `mkDiskSize`: `IntAtLeast(1)`."""


class NodeConfig(Model):
    name: DnsLabel
    role: Role
    host: DnsLabel
    """The Proxmox host (one of `proxmox.hosts[].name`) that runs this node's VM."""
    vm_id: int = Field(ge=VM_ID_MIN, le=VM_ID_MAX)
    ip: IPv4
    cores: int = Field(default=2, ge=1, le=CORES_MAX)
    memory_mb: int = Field(default=4096, ge=MEMORY_MB_MIN, le=MEMORY_MB_MAX)
    disk_gb: int = Field(default=32, ge=DISK_GB_MIN, le=DISK_GB_MAX)
    data_disk_gb: int | None = Field(default=None, ge=DATA_DISK_GB_MIN, le=DISK_GB_MAX)
    """An optional second disk, offered to workloads as the Talos user volume `data`."""


class GitOpsConfig(Model):
    repo_url: str = Field(pattern=r"^(https://\S+|ssh://\S+|git@[^:\s]+:\S+)$")
    revision: GitRef
    """The Git ref (branch, tag or commit) the root Application follows."""
    path: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class OriginOptions(Model):
    """How cloudflared talks to the in-cluster service (cloudflared's `originRequest`)."""

    connect_timeout_seconds: int | None = Field(default=None, ge=1, le=300)
    no_tls_verify: bool = False
    """Skip verifying an HTTPS origin's certificate; prefer `origin_server_name` or `ca_pool`."""
    origin_server_name: str | None = None
    """The name (SNI) expected on an HTTPS origin's certificate."""
    ca_pool: str | None = None
    """Path, inside the cloudflared pod, of the CA bundle that signs the origin's certificate."""
    http2_origin: bool = False
    """Speak HTTP/2 to the origin (gRPC services need it)."""


class PublicHostname(Model):
    hostname: str
    """A name in the Cloudflare zone, or a wildcard `*.name` in it."""
    service: str
    """Where cloudflared sends the traffic, e.g. http://frontend.podinfo.svc.cluster.local:9898."""
    path: str | None = None
    """Optional regular expression the request path must match for this rule."""
    admin: bool = False
    """An operator UI: only reachable through Cloudflare Access."""
    edge: bool = False
    """Served by every cluster of the environment through its edge stack (docs/multi-cluster.md):
    this stack's tunnel routes it, and the edge stack's load balancer publishes it, so this stack
    creates no DNS record for it."""
    origin: OriginOptions = Field(default_factory=OriginOptions)


class AccessConfig(Model):
    """Who may reach the admin hostnames through Cloudflare Access."""

    emails: list[Email] = Field(default_factory=list)
    email_domains: list[Domain] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    """Ids of Cloudflare Access groups."""
    session_duration: str = Field(default="12h", pattern=r"^\d+(m|h)$")


class CloudflareConfig(Model):
    account_id: CloudflareId
    zone_id: CloudflareId
    zone: Domain
    hostnames: list[PublicHostname] = Field(default_factory=list)
    access: AccessConfig = Field(default_factory=AccessConfig)
    advanced_certificate: bool = False
    """The zone has an edge certificate for names more than one label deep (Advanced Certificate
    Manager or a custom certificate). Universal SSL covers only `zone` and `*.zone`."""


class ArgoCdSsoConfig(Model):
    """Argo CD's single sign-on through Cloudflare Access, and who gets which role."""

    team_domain: TeamDomain | None = None
    """`<team-name>.cloudflareaccess.com`; unset: no SSO (dev only)."""
    admins: list[Subject] = Field(default_factory=list)
    """Groups (as the identity provider names them in the `groups` claim) or emails given
    Argo CD's `role:admin`."""
    readers: list[Subject] = Field(default_factory=list)
    """Groups or emails given `role:readonly`. Everyone else who logs in gets no role."""
    local_admin: bool | None = None
    """Keep Argo CD's local `admin` account: only possible in dev, where it is on unless this is
    false. Off in staging and prod whatever is set."""

    @property
    def enabled(self) -> bool:
        return self.team_domain is not None


class StorageConfig(Model):
    """What the program supplies for the cluster's storage add-on (the add-on itself is in the
    GitOps tree, `gitops/platform/`)."""

    proxmox_csi: bool = True
    """The environment runs the Proxmox CSI plugin: the program creates its namespace and its
    credentials Secret from the secret `proxmox_csi_token`, which is then required. Set false
    together with removing the add-on from the environment's platform tree (docs/platform.md)."""


class NotificationsConfig(Model):
    """Argo CD notifications: where they go is the secret `argocd_notifications_url` (its URL
    carries the receiver's token); without it notifications are off."""

    format: Literal["slack", "discord", "webhook"] = "webhook"
    """The receiver's payload: a Slack or Discord incoming webhook, or plain JSON."""


class AlertingConfig(Model):
    """Where Alertmanager sends alerts: the secret `alertmanager_receiver_url` (its URL carries
    the receiver's token); without it alerts are only seen in the Alertmanager UI."""

    format: Literal["slack", "discord", "webhook"] = "webhook"
    """The receiver: a Slack or Discord incoming webhook, or Alertmanager's JSON webhook."""


class BackupConfig(Model):
    """Where the cluster's backups go off-site: an R2 bucket in the stack's Cloudflare account
    (`cloudflare.account_id`), which the program creates with a credential limited to it
    (components/backup, docs/recovery.md)."""

    bucket: R2BucketName
    """The R2 bucket's name, unique in the account: one bucket per stack. Changing it replaces
    the bucket (the provider's `name` RequiresReplace), and with it every backup in it."""
    jurisdiction: Literal["default", "eu", "fedramp"] = "default"
    """Where R2 guarantees the objects stay (`eu`: in the EU); it is part of the S3 endpoint.
    Choose it once: a change makes a new, empty bucket (refused in prod, where the bucket is
    protected), and the old one must be emptied and deleted by hand."""
    location: Literal["apac", "eeur", "enam", "weur", "wnam", "oc"] | None = None
    """A location hint for the bucket: best effort and honoured at creation only; a later change
    is ignored (cloudflare/terraform-provider-cloudflare v5.22.0
    `internal/services/r2_bucket/schema.go`: the plan keeps the state's location)."""
    age_recipient: AgeRecipient
    """The age public key (a "recipient") etcd snapshots are encrypted to before they leave the
    cluster (`age-keygen` prints it). Its private key is kept offline by the operators: without
    it no snapshot can be restored (docs/recovery.md)."""
    etcd_retention_days: int = Field(default=30, ge=1, le=3650)
    """How long etcd snapshots are kept: the bucket's lifecycle rule deletes objects under
    `etcd/` older than this. Velero prunes its own backups (their TTL, gitops/platform)."""

    def s3_endpoint(self, account_id: str) -> str:
        """The bucket's S3 API endpoint (R2 docs, "S3 API compatibility": the account's
        endpoint, with the jurisdiction as a subdomain when there is one)."""
        region = "" if self.jurisdiction == "default" else f"{self.jurisdiction}."
        return f"https://{account_id}.{region}r2.cloudflarestorage.com"


def default_pool(cluster_name: str) -> str:
    """The pool of a stack that sets no `proxmox.pool`: `talos-<cluster_name>`. The prefix keeps
    it clear of pools an operator already has for other guests (a pool named `dev` may hold VMs
    this stack's token must not reach) and makes it start with a letter, as a pool id must
    (`types.PoolId`); a cluster name is a DNS label, so the result is always a valid id."""
    return f"talos-{cluster_name}"


def is_argocd_ui(entry: PublicHostname) -> bool:
    """A hostname routed to the Argo CD API server (its UI)."""
    return "//argocd-server." in entry.service


# The project's config keys and the type each must have. Scalars have project-level defaults in
# Pulumi.yaml; structured keys live in each Pulumi.<stack>.yaml.
SECTIONS: dict[str, Any] = {
    "environment": Environment,
    "cluster_name": DnsLabel,
    "talos_version": TalosVersion,
    "kubernetes_version": KubernetesVersion,
    "argocd_chart_version": ChartVersion,
    "cloudflared_version": CloudflaredVersion,
    "cloudflared_replicas": Annotated[int, Field(ge=2, le=10)],
    "install_disk": DevicePath,
    "talos_extensions": list[TalosExtension],
    "proxmox": ProxmoxConfig,
    "network": NetworkConfig,
    "nodes": list[NodeConfig],
    "gitops": GitOpsConfig,
    "cloudflare": CloudflareConfig,
    "storage": StorageConfig,
    "argocd_notifications": NotificationsConfig,
    "alerting": AlertingConfig,
    "backup": BackupConfig,
    "argocd_sso": ArgoCdSsoConfig,
}

DEFAULTED_SECTIONS = frozenset({"storage", "argocd_notifications", "alerting", "argocd_sso"})
"""Sections a stack may leave out: their models' defaults apply."""

REQUIRED_SECRETS = ("proxmox_api_token", "cloudflare_api_token")
"""Secret config keys every stack needs: `pulumi config set --secret <key> <value>`."""

OPTIONAL_SECRETS = (
    "gitops_token",
    "gitops_ssh_key",
    "argocd_webhook_secret",
    "argocd_notifications_url",
    "proxmox_csi_token",
    "alertmanager_receiver_url",
    "alertmanager_heartbeat_url",
)
"""Secret config keys a stack may set: for a private GitOps repository an HTTPS token
(`https://` URL) or an SSH deploy key (`git@host:org/repo.git` or `ssh://` URL); the shared
secret of a Git webhook that tells Argo CD about a push at once (README, "Git webhook"); the URL
Argo CD notifications are posted to; the Proxmox CSI plugin's API token, required while
`storage.proxmox_csi` is on (`required_secrets`); where Alertmanager sends alerts, and the
dead man's switch its always-firing Watchdog alert is sent to (docs/alerts.md)."""


def required_secrets(storage: StorageConfig | None) -> tuple[str, ...]:
    """The secret keys this stack must set, given its `storage` section."""
    if storage is None or storage.proxmox_csi:
        return (*REQUIRED_SECRETS, "proxmox_csi_token")
    return REQUIRED_SECRETS


class StackConfig(Model):
    """The whole validated configuration of one stack (secrets excluded: see `loader`)."""

    environment: Environment
    cluster_name: str
    talos_version: str
    kubernetes_version: str
    argocd_chart_version: str
    cloudflared_version: str
    cloudflared_replicas: int
    install_disk: str
    talos_extensions: list[str]
    proxmox: ProxmoxConfig
    network: NetworkConfig
    nodes: list[NodeConfig]
    gitops: GitOpsConfig
    cloudflare: CloudflareConfig
    storage: StorageConfig
    argocd_notifications: NotificationsConfig
    alerting: AlertingConfig
    backup: BackupConfig
    argocd_sso: ArgoCdSsoConfig

    @property
    def control_planes(self) -> list[NodeConfig]:
        return [n for n in self.nodes if n.role == "controlplane"]

    @property
    def workers(self) -> list[NodeConfig]:
        return [n for n in self.nodes if n.role == "worker"]

    @property
    def control_planes_schedulable(self) -> bool:
        """Workloads run on the control planes when there is no worker to run them."""
        return not self.workers

    @property
    def schedulable_nodes(self) -> list[NodeConfig]:
        """The nodes pods can land on: the workers, or the control planes when there are none."""
        return self.control_planes if self.control_planes_schedulable else self.workers

    @property
    def cluster_endpoint(self) -> str:
        """The Kubernetes API URL, on the control-plane VIP."""
        return f"https://{self.network.vip}:6443"

    @property
    def argocd_url(self) -> str | None:
        """The Argo CD UI's public URL: the hostname routed to the argocd-server Service."""
        for entry in self.cloudflare.hostnames:
            if is_argocd_ui(entry):
                return f"https://{entry.hostname}"
        return None

    def host(self, name: str) -> ProxmoxHost:
        return next(h for h in self.proxmox.hosts if h.name == name)

    @property
    def proxmox_pool(self) -> str:
        """The Proxmox pool this stack's VMs are created in: `proxmox.pool`, or the default."""
        return self.proxmox.pool or default_pool(self.cluster_name)
