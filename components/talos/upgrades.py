"""Rolling upgrades of Talos and Kubernetes, triggered by a version change in the stack file.

pulumiverse-talos has no upgrade resource, and changing `talos_version` upgrades no running node
(siderolabs/terraform-provider-talos #140, #274). So each node gets a pulumi-command step whose
`create` does nothing (a new node is installed at the current version already) and whose `update`
runs `talosctl upgrade --preserve`: Pulumi runs an update only when the step's inputs change,
that is when the Talos version or the installer image (schematic) changes.

Order: control-plane nodes one at a time, chained in the graph; then the workers, each behind
the last control plane, serialised one at a time by a lock file on the machine running
`pulumi up` (so the graph stays as deep for 150 nodes as for 3). Every step waits for
`talosctl health` before and after its node. Kubernetes is upgraded last, once, by
`talosctl upgrade-k8s`, only when `kubernetes_version` changes. `talosctl` must be on the PATH
of whoever runs `pulumi up` (README, "Prerequisites").
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from .. import type_token

NOTHING = "true"
"""`create` of every step: a node created by this program already runs the target version."""

_TALOSCONFIG = """set -eu
TALOSCONFIG="$(mktemp)"; export TALOSCONFIG
trap 'rm -f "$TALOSCONFIG"' EXIT
cat > "$TALOSCONFIG"
"""

UPGRADE_NODE = (
    _TALOSCONFIG
    + """upgrade() {
  talosctl -e "$ENDPOINTS" -n "$HEALTH_NODE" health --wait-timeout 10m
  talosctl -e "$ENDPOINTS" -n "$NODE" upgrade --image "$INSTALLER_IMAGE" --preserve --wait \\
    --timeout 20m
  talosctl -e "$ENDPOINTS" -n "$HEALTH_NODE" health --wait-timeout 10m
}
if [ -n "${UPGRADE_LOCK:-}" ]; then
  exec 9>"$UPGRADE_LOCK"
  flock 9
fi
upgrade
"""
)

UPGRADE_KUBERNETES = (
    _TALOSCONFIG
    + """talosctl -e "$ENDPOINTS" -n "$HEALTH_NODE" health --wait-timeout 10m
talosctl -e "$ENDPOINTS" -n "$HEALTH_NODE" upgrade-k8s --to "$KUBERNETES_VERSION"
talosctl -e "$ENDPOINTS" -n "$HEALTH_NODE" health --wait-timeout 10m
"""
)


UNTRIGGERING = [
    "stdin",
    "environment.ENDPOINTS",
    "environment.HEALTH_NODE",
    "environment.UPGRADE_LOCK",
]
"""Inputs whose change must not upgrade anything: the talosconfig (its node list grows with every
new node) and where to reach the cluster (it changes with the control-plane set)."""


@dataclass(frozen=True)
class UpgradeNode:
    name: str
    ip: str
    role: str
    applied: pulumi.Resource
    """The node's ConfigurationApply: a node is upgraded only once it is configured."""


@dataclass(frozen=True)
class RollingUpgradeArgs:
    cluster_name: str
    nodes: list[UpgradeNode]
    talos_version: str
    kubernetes_version: str
    installer_image: pulumi.Input[str]
    talosconfig: pulumi.Output[str]
    bootstrap: pulumi.Resource


class RollingUpgrade(pulumi.ComponentResource):
    """One upgrade step per node and one for Kubernetes, ordered as described above."""

    steps: list[command.local.Command]
    """Node steps in upgrade order: control planes first, then workers."""
    kubernetes: command.local.Command

    def __init__(
        self, name: str, args: RollingUpgradeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("talos", "RollingUpgrade"), name, {}, opts)
        control_planes = [n for n in args.nodes if n.role == "controlplane"]
        workers = [n for n in args.nodes if n.role == "worker"]
        endpoints = ",".join(n.ip for n in control_planes)
        lock = f"/tmp/talos-upgrade-{args.cluster_name}.lock"
        talosconfig = pulumi.Output.secret(args.talosconfig)

        def health_node(node: UpgradeNode) -> str:
            others = [n.ip for n in control_planes if n.ip != node.ip]
            return others[0] if others else control_planes[0].ip

        def step(node: UpgradeNode, after: list[pulumi.Resource], serialise: bool):
            environment = {
                "NODE": node.ip,
                "HEALTH_NODE": health_node(node),
                "ENDPOINTS": endpoints,
                "TALOS_VERSION": args.talos_version,
                "INSTALLER_IMAGE": args.installer_image,
            }
            if serialise:
                environment["UPGRADE_LOCK"] = lock
            return command.local.Command(
                f"{name}-{node.name}",
                create=NOTHING,
                update=UPGRADE_NODE,
                stdin=talosconfig,
                environment=environment,
                interpreter=["/bin/sh", "-c"],
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[node.applied, *after], ignore_changes=UNTRIGGERING
                ),
            )

        self.steps = []
        previous: pulumi.Resource = args.bootstrap
        for node in control_planes:
            previous = step(node, [previous], serialise=False)
            self.steps.append(previous)
        last_control_plane = previous
        for node in workers:
            self.steps.append(step(node, [last_control_plane], serialise=True))
        self.kubernetes = command.local.Command(
            f"{name}-kubernetes",
            create=NOTHING,
            update=UPGRADE_KUBERNETES,
            stdin=talosconfig,
            environment={
                "HEALTH_NODE": control_planes[0].ip,
                "ENDPOINTS": endpoints,
                "KUBERNETES_VERSION": args.kubernetes_version.removeprefix("v"),
            },
            interpreter=["/bin/sh", "-c"],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=self.steps, ignore_changes=UNTRIGGERING
            ),
        )
        self.register_outputs(
            {"talos_version": args.talos_version, "kubernetes_version": args.kubernetes_version}
        )
