"""The Talos cluster: machine secrets, per-node configuration and apply, bootstrap, health,
kubeconfig and talosconfig."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_talos as talos

from config.models import NodeConfig, StackConfig

from .. import type_token
from .client_args import client_args, machine_secrets_args
from .documents import NodeMachine, NodeNetwork, node_patches


@dataclass(frozen=True)
class ClusterNode:
    """A node as the Talos layer sees it: its config, its VM's MAC, and the VM itself."""

    config: NodeConfig
    mac_address: str
    vm: pulumi.Resource
    """The node's VM: its configuration is applied once this VM exists, and not before."""


@dataclass(frozen=True)
class TalosClusterArgs:
    stack: StackConfig
    nodes: list[ClusterNode]
    installer_image: pulumi.Input[str]
    protect: bool = False


def node_documents_inputs(
    stack: StackConfig, node: NodeConfig, mac: str, installer: str
) -> tuple[NodeNetwork, NodeMachine]:
    """The typed inputs of one node's Talos documents."""
    net = stack.network
    is_cp = node.role == "controlplane"
    network = NodeNetwork(
        hostname=node.name,
        mac_address=mac,
        address=node.ip,
        cidr=net.cidr,
        gateway=net.gateway,
        nameservers=tuple(net.nameservers),
        ntp_servers=tuple(net.ntp_servers),
        vip=net.vip if is_cp else None,
    )
    machine = NodeMachine(
        install_disk=stack.install_disk,
        installer_image=installer,
        zone=node.host,
        region=stack.proxmox.region,
        cert_sans=(str(net.vip), str(node.ip)) if is_cp else (),
        data_volume_gb=node.data_disk_gb,
        schedule_workloads=is_cp and stack.control_planes_schedulable,
    )
    return network, machine


class TalosCluster(pulumi.ComponentResource):
    """Everything Talos: from generated secrets to a healthy cluster and its kubeconfig."""

    applies: dict[str, talos.machine.ConfigurationApply]
    bootstrap: talos.machine.Bootstrap
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig, secret, available once the cluster reports healthy."""
    talosconfig: pulumi.Output[str]

    def __init__(
        self, name: str, args: TalosClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("talos", "Cluster"), name, {}, opts)
        stack = args.stack
        secrets = talos.machine.Secrets(
            f"{name}-secrets",
            talos_version=stack.talos_version,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                additional_secret_outputs=["machine_secrets", "client_configuration"],
            ),
        )
        # Secret in our hands too, not only where the provider schema says so.
        machine_secrets = pulumi.Output.secret(secrets.machine_secrets).apply(machine_secrets_args)
        client = pulumi.Output.secret(secrets.client_configuration)

        self.applies = {}
        for node in args.nodes:
            patches = pulumi.Output.from_input(args.installer_image).apply(
                lambda installer, n=node: node_patches(
                    *node_documents_inputs(stack, n.config, n.mac_address, installer)
                )
            )
            generated = talos.machine.get_configuration_output(
                cluster_name=stack.cluster_name,
                cluster_endpoint=stack.cluster_endpoint,
                machine_type=node.config.role,
                machine_secrets=machine_secrets,
                talos_version=stack.talos_version,
                kubernetes_version=stack.kubernetes_version.removeprefix("v"),
                config_patches=patches,
                docs=False,
                examples=False,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            ip = str(node.config.ip)
            self.applies[node.config.name] = talos.machine.ConfigurationApply(
                f"{name}-{node.config.name}",
                node=ip,
                endpoint=ip,
                client_configuration=client.apply(
                    lambda c: client_args(c, talos.machine.ClientConfigurationArgs)
                ),
                machine_configuration_input=pulumi.Output.secret(generated.machine_configuration),
                # A removed node leaves etcd and wipes its state before its VM goes.
                on_destroy={"graceful": True, "reboot": False, "reset": True},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[node.vm]),
            )

        control_planes = [n for n in args.nodes if n.config.role == "controlplane"]
        workers = [n for n in args.nodes if n.config.role == "worker"]
        first = control_planes[0]
        first_ip = str(first.config.ip)
        self.bootstrap = talos.machine.Bootstrap(
            f"{name}-bootstrap",
            node=first_ip,
            endpoint=first_ip,
            client_configuration=client.apply(
                lambda c: client_args(c, talos.machine.ClientConfigurationArgs)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.applies[first.config.name]]),
        )

        cp_ips = [str(n.config.ip) for n in control_planes]
        # The health gate: every node configured, etcd bootstrapped, Kubernetes answering.
        # Everything in the cluster is created with a provider whose kubeconfig flows through it.
        health = talos.cluster.get_health_output(
            client_configuration=client.apply(
                lambda c: client_args(c, talos.cluster.GetHealthClientConfigurationArgs)
            ),
            control_plane_nodes=cp_ips,
            worker_nodes=[str(n.config.ip) for n in workers],
            endpoints=cp_ips,
            opts=pulumi.InvokeOutputOptions(
                parent=self, depends_on=[self.bootstrap, *self.applies.values()]
            ),
        )
        kubeconfig = talos.cluster.Kubeconfig(
            f"{name}-kubeconfig",
            node=first_ip,
            endpoint=first_ip,
            client_configuration=client.apply(
                lambda c: client_args(c, talos.cluster.KubeconfigClientConfigurationArgs)
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.bootstrap],
                additional_secret_outputs=["kubeconfig_raw", "kubernetes_client_configuration"],
            ),
        )
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(kubeconfig.kubeconfig_raw, health).apply(lambda pair: pair[0])
        )
        self.talosconfig = pulumi.Output.secret(
            talos.client.get_configuration_output(
                cluster_name=stack.cluster_name,
                client_configuration=client.apply(
                    lambda c: client_args(c, talos.client.GetConfigurationClientConfigurationArgs)
                ),
                endpoints=cp_ips,
                nodes=[str(n.config.ip) for n in args.nodes],
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).talos_config
        )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "talosconfig": self.talosconfig,
                "endpoint": stack.cluster_endpoint,
            }
        )
