"""The stack of one cluster: Proxmox VMs -> Talos -> Kubernetes -> Argo CD, and the Cloudflare
Tunnel in front. Built by `__main__.py` for every stack that is not an edge stack."""

from urllib.parse import urlsplit

import pulumi

from components.argocd import ArgoCd, ArgoCdArgs, ArgoCdLogin
from components.backup.offsite import OffsiteBackup, OffsiteBackupArgs
from components.cloudflare import (
    AdminAccess,
    AdminAccessArgs,
    Cloudflared,
    CloudflaredArgs,
    Tunnel,
    TunnelArgs,
)
from components.kubernetes import KubernetesCluster
from components.monitoring import Monitoring, MonitoringArgs
from components.providers import make_providers
from components.proxmox import NodeVm, NodeVmArgs, TalosImage, TalosImageArgs
from components.storage import ProxmoxCsiArgs, ProxmoxCsiCredentials
from components.talos import ClusterNode, TalosCluster, TalosClusterArgs
from config import load
from config.sso import local_admin


def build() -> None:
    """Load and validate the stack's config, build every component, export the outputs."""
    stack, secrets = load()
    project, stack_name = pulumi.get_project(), pulumi.get_stack()
    protect = stack.environment == "prod"
    providers = make_providers(stack, secrets)

    used_hosts = [h for h in stack.proxmox.hosts if any(n.host == h.name for n in stack.nodes)]
    image = TalosImage(
        "talos-image",
        TalosImageArgs(
            cluster_name=stack.cluster_name,
            talos_version=stack.talos_version,
            extensions=stack.talos_extensions,
            hosts=used_hosts,
            proxmox_provider=providers.proxmox,
        ),
    )
    vms = {
        node.name: NodeVm(
            node.name,
            NodeVmArgs(
                node=node,
                host=stack.host(node.host),
                network=stack.network,
                cluster_name=stack.cluster_name,
                environment=stack.environment,
                pool=stack.proxmox_pool,
                image_file_id=image.file_ids[node.host],
                proxmox_provider=providers.proxmox,
                protect=protect,
            ),
        )
        for node in stack.nodes
    }
    talos_cluster = TalosCluster(
        "talos",
        TalosClusterArgs(
            stack=stack,
            nodes=[ClusterNode(n, vms[n.name].mac_address, vms[n.name].vm) for n in stack.nodes],
            installer_image=image.installer_image,
            schematic_id=image.schematic_id,
            cluster_identifier=f"{project}-{stack.cluster_name}",
            protect=protect,
        ),
    )
    kubernetes = KubernetesCluster(
        "kubernetes",
        kubeconfig=talos_cluster.kubeconfig,
        cluster_identifier=f"{project}-{stack.cluster_name}",
    )
    # What the tree's first sync needs from the program: the storage and monitoring add-ons'
    # namespaces, credentials and configuration.
    prerequisites: list[pulumi.Resource] = []
    if stack.storage.proxmox_csi and secrets.proxmox_csi_token is not None:
        prerequisites.append(
            ProxmoxCsiCredentials(
                "proxmox-csi",
                ProxmoxCsiArgs(
                    endpoint=str(stack.proxmox.endpoint),
                    insecure=stack.proxmox.insecure,
                    region=stack.proxmox.region,
                    token=secrets.proxmox_csi_token,
                    k8s_provider=kubernetes.provider,
                ),
            )
        )
    # The monitoring add-on's namespace, Alertmanager's configuration (its receivers are secret) and
    # Grafana's admin login.
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            alert_format=stack.alerting.format,
            receiver_url=secrets.alertmanager_receiver_url,
            heartbeat_url=secrets.alertmanager_heartbeat_url,
            k8s_provider=kubernetes.provider,
        ),
    )
    prerequisites.append(monitoring)
    # The backup add-ons' bucket in R2, a credential limited to it, their namespaces and Secrets.
    backup = OffsiteBackup(
        "backup",
        OffsiteBackupArgs(
            account_id=stack.cloudflare.account_id,
            bucket=stack.backup.bucket,
            jurisdiction=stack.backup.jurisdiction,
            location=stack.backup.location,
            s3_endpoint=stack.backup.s3_endpoint(stack.cloudflare.account_id),
            etcd_retention_days=stack.backup.etcd_retention_days,
            age_recipient=stack.backup.age_recipient,
            cluster_name=stack.cluster_name,
            token_name=f"{project}-{stack_name}-backup",
            cloudflare_provider=providers.cloudflare,
            k8s_provider=kubernetes.provider,
            protect=protect,
        ),
    )
    prerequisites.append(backup)
    argocd_url = stack.argocd_url or f"https://argocd.{stack.cloudflare.zone}"
    access = AdminAccess(
        "access",
        AdminAccessArgs(
            account_id=stack.cloudflare.account_id,
            access=stack.cloudflare.access,
            hostnames=[h for h in stack.cloudflare.hostnames if h.admin],
            webhook_hostname=(
                urlsplit(stack.argocd_url).hostname
                if secrets.argocd_webhook_secret is not None and stack.argocd_url
                else None
            ),
            stack=stack_name,
            cloudflare_provider=providers.cloudflare,
            argocd_url=argocd_url,
            sso_team_domain=stack.argocd_sso.team_domain,
        ),
    )
    argocd_login = ArgoCdLogin(
        local_admin=local_admin(stack.argocd_sso, stack.environment),
        admins=stack.argocd_sso.admins,
        readers=stack.argocd_sso.readers,
        **(access.argocd_oidc.argocd_args() if access.argocd_oidc else {}),
    )
    ArgoCd(
        "argocd",
        ArgoCdArgs(
            environment=stack.environment,
            chart_version=stack.argocd_chart_version,
            external_url=argocd_url,
            gitops=stack.gitops,
            k8s_provider=kubernetes.provider,
            gitops_token=secrets.gitops_token,
            gitops_ssh_key=secrets.gitops_ssh_key,
            webhook_secret=secrets.argocd_webhook_secret,
            notifications_url=secrets.argocd_notifications_url,
            notifications_format=stack.argocd_notifications.format,
            login=argocd_login,
            root_waits_for=prerequisites,
        ),
    )
    tunnel = Tunnel(
        "tunnel",
        TunnelArgs(
            cloudflare=stack.cloudflare,
            project=project,
            stack=stack_name,
            cloudflare_provider=providers.cloudflare,
            guards=dict(access.applications),
        ),
    )
    Cloudflared(
        "cloudflared",
        CloudflaredArgs(
            version=stack.cloudflared_version,
            replicas=stack.cloudflared_replicas,
            token=tunnel.token,
            k8s_provider=kubernetes.provider,
            schedulable_nodes=len(stack.schedulable_nodes),
        ),
    )

    pulumi.export("kubeconfig", talos_cluster.kubeconfig)
    pulumi.export("talosconfig", talos_cluster.talosconfig)
    pulumi.export("grafana_admin_password", monitoring.grafana_password)
    pulumi.export("kubernetes_endpoint", stack.cluster_endpoint)
    pulumi.export("talos_installer_image", image.installer_image)
    pulumi.export("tunnel_id", tunnel.tunnel.id)
    pulumi.export("public_hostnames", [h.hostname for h in stack.cloudflare.hostnames])
    # What an edge stack reads through its StackReference (stacks/edge.py): this cluster's
    # tunnel, its account, and the public (not admin) hostnames the tunnel routes: those with
    # `edge: true`, and those still published here while they move to the edge.
    pulumi.export(
        "edge_origin",
        {
            "cluster_name": stack.cluster_name,
            "environment": stack.environment,
            "account_id": stack.cloudflare.account_id,
            "tunnel_id": tunnel.tunnel.id,
            "hostnames": [h.hostname for h in stack.cloudflare.hostnames if not h.admin],
        },
    )
    # Where the backups are, and the bucket's S3 credentials (secret) for a restore from outside the
    # cluster (`python -m tools.recover`, docs/recovery.md).
    pulumi.export("backup", backup.summary)
    pulumi.export(
        "backup_s3_credentials",
        pulumi.Output.secret(
            {"access_key_id": backup.access_key_id, "secret_access_key": backup.secret_access_key}
        ),
    )
    pulumi.export(
        "nodes", {n.name: {"ip": str(n.ip), "role": n.role, "host": n.host} for n in stack.nodes}
    )
