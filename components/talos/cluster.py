"""The Talos cluster: machine secrets, per-node configuration and apply, bootstrap, health,
kubeconfig and talosconfig."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumiverse_talos as talos

from config.models import NodeConfig, StackConfig

from .. import type_token
from ..network import Cilium, CiliumArgs
from .client_args import client_args, machine_secrets_args
from .documents import KUBEPRISM_PORT, NodeMachine, NodeNetwork, node_patches
from .lifecycle import StepContext, api_gate, health_gate, kubernetes_upgrade, node_exit
from .upgrades import RollingUpgrade, RollingUpgradeArgs, UpgradeNode


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
    schematic_id: pulumi.Input[str]
    cluster_identifier: str
    """The stable identity of the cluster's Kubernetes providers."""
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
        control_plane=is_cp,
        schedule_workloads=is_cp and stack.control_planes_schedulable,
    )
    return network, machine


class TalosCluster(pulumi.ComponentResource):
    """Everything Talos: from generated secrets to a healthy cluster and its kubeconfig."""

    applies: dict[str, talos.machine.ConfigurationApply]
    exits: dict[str, pulumi.Resource]
    config_digests: dict[str, pulumi.Output[str]]
    """Per node, a digest (secret) of its machine configuration."""
    upgrade: RollingUpgrade
    bootstrap: talos.machine.Bootstrap
    api_gate: pulumi.Resource
    network: Cilium
    health: pulumi.Resource
    kubernetes_upgrade: pulumi.Resource
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
                # The provider replaces the secrets (every CA of the cluster) when talos_version
                # goes down by semver, where `v1.13` reads as v1.13.0, below v1.13.9
                # (terraform-provider-talos v0.11.0 `talos_machine_secrets_resource.go`,
                # ModifyPlan). The version only picks the secrets' format (the same for all of
                # 1.13, `util.go`), so it stays what it was at creation: a bump or its revert
                # changes nothing here. The client certificate is still renewed in its last month.
                ignore_changes=["talosVersion"],
            ),
        )
        # Secret in our hands too, not only where the provider schema says so.
        machine_secrets = pulumi.Output.secret(secrets.machine_secrets).apply(machine_secrets_args)
        client = pulumi.Output.secret(secrets.client_configuration)
        control_planes = [n for n in args.nodes if n.config.role == "controlplane"]
        workers = [n for n in args.nodes if n.config.role == "worker"]
        cp_ips = [str(n.config.ip) for n in control_planes]
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
        # The steps' own talosconfig names no node (each step passes `-n`), so adding or removing
        # a worker leaves every step's input alone.
        steps_talosconfig = pulumi.Output.secret(
            talos.client.get_configuration_output(
                cluster_name=stack.cluster_name,
                client_configuration=client.apply(
                    lambda c: client_args(c, talos.client.GetConfigurationClientConfigurationArgs)
                ),
                endpoints=cp_ips,
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).talos_config
        )
        steps = StepContext(steps_talosconfig, ",".join(cp_ips), self)
        self.kubernetes_upgrade = kubernetes_upgrade(
            f"{name}-kubernetes-upgrade",
            steps,
            stack.kubernetes_version,
            [str(n.config.ip) for n in args.nodes],
        )

        self.applies = {}
        self.exits = {}
        self.config_digests = {}
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
            self.config_digests[node.config.name] = pulumi.Output.secret(
                generated.machine_configuration.apply(
                    lambda c: hashlib.sha256(str(c).encode()).hexdigest()[:16]
                )
            )
            ip = str(node.config.ip)
            exit_step = node_exit(
                f"{name}-{node.config.name}-exit",
                steps,
                node.config.name,
                ip,
                node.config.role,
                node.vm,
                secrets,
            )
            self.exits[node.config.name] = exit_step
            self.applies[node.config.name] = talos.machine.ConfigurationApply(
                f"{name}-{node.config.name}",
                node=ip,
                endpoint=ip,
                client_configuration=client.apply(
                    lambda c: client_args(c, talos.machine.ClientConfigurationArgs)
                ),
                machine_configuration_input=pulumi.Output.secret(generated.machine_configuration),
                # A change that needs a reboot is staged (the provider dry-runs the config at
                # plan time, `talos_machine_configuration_apply_resource.go` ModifyPlan) and the
                # node's rolling step reboots the nodes one at a time; `auto` would reboot every
                # changed node at once, control planes included, without a drain.
                # If that dry-run fails (the node unreachable at plan time), the provider falls
                # back to `auto` (ModifyPlan, resolveApplyMode): see README, "Upgrades".
                apply_mode="staged_if_needing_reboot",
                # No `on_destroy` reset: the node's exit step owns leaving (drain, graceful
                # reset, Node object, etcd member), in that order, whatever Pulumi deletes first.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[node.vm, exit_step, self.kubernetes_upgrade],
                    # A new VM is a blank node: configure it again. Deleted first, as the VM.
                    replace_with=[node.vm],
                    delete_before_replace=True,
                ),
            )

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

        # One node at a time: Talos upgrades and reboots into staged configurations.
        self.upgrade = RollingUpgrade(
            "upgrade",
            RollingUpgradeArgs(
                cluster_name=stack.cluster_name,
                nodes=[
                    UpgradeNode(
                        n.config.name,
                        str(n.config.ip),
                        n.config.role,
                        self.applies[n.config.name],
                        self.config_digests[n.config.name],
                    )
                    for n in args.nodes
                ],
                talos_version=stack.talos_version,
                schematic_id=args.schematic_id,
                installer_image=args.installer_image,
                talosconfig=steps_talosconfig,
                bootstrap=self.bootstrap,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # It was a top-level component before it moved in here: same resources.
                aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)],
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
        # Talos runs no CNI and no kube-proxy (documents.py): the nodes stay NotReady until
        # Cilium runs. So first the API gate (every node configured and upgraded, the API server
        # answering), then Cilium with a kubeconfig released by that gate, then the health gate.
        self.api_gate = api_gate(
            f"{name}-api",
            steps,
            stack.cluster_endpoint,
            after=[self.bootstrap, *self.applies.values(), *self.upgrade.steps],
        )
        self.network = Cilium(
            "cilium",
            CiliumArgs(
                kubeconfig=pulumi.Output.secret(
                    pulumi.Output.all(kubeconfig.kubeconfig_raw, self.api_gate.id).apply(
                        lambda pair: pair[0]
                    )
                ),
                cluster_identifier=args.cluster_identifier,
                nodes=len(args.nodes),
                kubeprism_port=KUBEPRISM_PORT,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The health gate: the network up, so every node Ready, and Kubernetes answering.
        # Everything else in the cluster is created with a provider whose kubeconfig waits for
        # it, so nothing in the cluster changes while nodes reboot or before pods have a network.
        self.health = health_gate(
            f"{name}-health",
            steps,
            [str(n.config.ip) for n in workers],
            {
                "TALOS_VERSION": stack.talos_version,
                "KUBERNETES_VERSION": stack.kubernetes_version,
                "INSTALLER_IMAGE": args.installer_image,
                # A new Cilium (version or values) is checked again: nodes Ready, agents rolled.
                "CILIUM": self.network.revision,
            },
            after=[self.network.release],
            members=list(self.exits.values()),
        )
        # Through the gate's ID, known in a preview (its stdout is not while it updates).
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(kubeconfig.kubeconfig_raw, self.health.id).apply(lambda pair: pair[0])
        )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "talosconfig": self.talosconfig,
                "endpoint": stack.cluster_endpoint,
            }
        )
