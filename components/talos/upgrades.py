"""Rolling upgrades and reboots of the nodes, one at a time.

pulumiverse-talos has no upgrade resource, and changing `talos_version` upgrades no running node
(siderolabs/terraform-provider-talos #140, #274). So each node gets a pulumi-command step whose
`create` does nothing (a new node is installed at its target already) and whose `update` runs
whenever the target (Talos version, schematic, installer image) or the node's configuration
changes, and also when only the talosconfig or the endpoints change: the step reads the node's
running version, schematic and staged configuration (`scripts.UPGRADE_NODE`) and exits 0 when
there is nothing to do. Otherwise it upgrades the node (`talosctl upgrade`, which drains it), or
reboots it into a staged configuration (a change the apply staged because it needs a reboot).

Order: control-plane nodes one at a time, chained in the graph; then the workers, each behind
the last control plane, serialised one at a time by a lock file on the machine running
`pulumi up` (so the graph stays as deep for 150 nodes as for 3). Every step waits for
`talosctl health` before and after its node. The Kubernetes upgrade is not here: it runs before
the machine configuration (`lifecycle.kubernetes_upgrade`). `talosctl` must be on the PATH of
whoever runs `pulumi up` (README, "Prerequisites").
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from .. import type_token
from . import scripts
from .lifecycle import SHELL


@dataclass(frozen=True)
class UpgradeNode:
    name: str
    ip: str
    role: str
    applied: pulumi.Resource
    """The node's ConfigurationApply: a node is upgraded only once it is configured."""
    config_digest: pulumi.Input[str]
    """A digest of what the program puts in the node's configuration: when it changes, the step
    runs and reboots the node if the apply staged the change."""


@dataclass(frozen=True)
class RollingUpgradeArgs:
    cluster_name: str
    nodes: list[UpgradeNode]
    talos_version: str
    schematic_id: pulumi.Input[str]
    installer_image: pulumi.Input[str]
    talosconfig: pulumi.Output[str]
    bootstrap: pulumi.Resource


class RollingUpgrade(pulumi.ComponentResource):
    """One step per node, ordered as described above."""

    steps: list[command.local.Command]
    """Node steps in upgrade order: control planes first, then workers."""

    def __init__(
        self, name: str, args: RollingUpgradeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("talos", "RollingUpgrade"), name, {}, opts)
        control_planes = [n for n in args.nodes if n.role == "controlplane"]
        workers = [n for n in args.nodes if n.role == "worker"]
        endpoints = ",".join(n.ip for n in control_planes)
        lock = f"/tmp/talos-upgrade-{args.cluster_name}.lock"
        talosconfig = pulumi.Output.secret(args.talosconfig)

        def step(node: UpgradeNode, after: list[pulumi.Resource], serialise: bool):
            environment = {
                "NODE": node.ip,
                "NODE_NAME": node.name,
                "ENDPOINTS": endpoints,
                "TALOS_VERSION": args.talos_version,
                "SCHEMATIC": args.schematic_id,
                "INSTALLER_IMAGE": args.installer_image,
                "CONFIG_DIGEST": node.config_digest,
            }
            if serialise:
                environment["UPGRADE_LOCK"] = lock
            return command.local.Command(
                f"{name}-{node.name}",
                create=scripts.NOTHING,
                update=scripts.UPGRADE_NODE,
                stdin=talosconfig,
                environment=environment,
                interpreter=SHELL,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[node.applied, *after]),
            )

        self.steps = []
        previous: pulumi.Resource = args.bootstrap
        for node in control_planes:
            previous = step(node, [previous], serialise=False)
            self.steps.append(previous)
        last_control_plane = previous
        for node in workers:
            self.steps.append(step(node, [last_control_plane], serialise=True))
        self.register_outputs({"talos_version": args.talos_version})
