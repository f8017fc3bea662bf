"""The cluster-wide talosctl steps around the machine configuration: the Kubernetes upgrade that
runs before it, the health gate after it, and each node's exit from Kubernetes and etcd.

All are pulumi-command `local.Command`s (scripts in `scripts.py`), so none runs during
`pulumi preview`: a preview or a Cloudflare-only change does not need every node up.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from . import scripts

SHELL = ["/bin/sh", "-c"]


@dataclass(frozen=True)
class StepContext:
    """What every step needs: the talosconfig (secret, on stdin) and where the cluster is."""

    talosconfig: pulumi.Output[str]
    endpoints: str
    """Control-plane IPs, comma-separated."""
    parent: pulumi.Resource


def kubernetes_upgrade(
    name: str, context: StepContext, kubernetes_version: str, nodes: list[str]
) -> command.local.Command:
    """`talosctl upgrade-k8s` when `kubernetes_version` changes, BEFORE any node's machine config
    carries the new version: the config apply would otherwise push the new control-plane and
    kubelet images to every node at once (siderolabs/terraform-provider-talos PRs #350, #353: the
    order is upgrade-k8s first, then the config). The machine configuration applies depend on
    this step. Nothing on create: a new cluster starts at the version of its config."""
    return command.local.Command(
        name,
        create=scripts.KUBERNETES_DONE,
        update=scripts.UPGRADE_KUBERNETES,
        stdin=context.talosconfig,
        environment={
            "ENDPOINTS": context.endpoints,
            "NODES": ",".join(nodes),
            "KUBERNETES_VERSION": kubernetes_version.removeprefix("v"),
        },
        interpreter=SHELL,
        opts=pulumi.ResourceOptions(parent=context.parent),
    )


def api_gate(
    name: str, context: StepContext, api_url: str, after: list[pulumi.Resource]
) -> command.local.Command:
    """Waits until the API server answers (`scripts.API_READY`), after every node is configured
    and upgraded: the CNI is installed then, and the health gate waits for it. Runs again (the
    same wait) whenever its talosconfig or endpoints change."""
    return command.local.Command(
        name,
        create=scripts.API_READY,
        update=scripts.API_READY,
        stdin=context.talosconfig,
        environment={"ENDPOINTS": context.endpoints, "API_URL": api_url},
        interpreter=SHELL,
        opts=pulumi.ResourceOptions(parent=context.parent, depends_on=after),
    )


def health_gate(
    name: str,
    context: StepContext,
    workers: list[str],
    versions: dict[str, pulumi.Input[str]],
    after: list[pulumi.Resource],
    members: list[pulumi.Resource],
) -> command.local.Command:
    """`talosctl health` when the cluster is created (over the nodes of the config) and whenever
    its node set or versions change (over the members the cluster sees), not at every preview
    (as the `talos_cluster_health` data source would: it fails when any node is down).
    Everything in the cluster waits for it."""
    return command.local.Command(
        name,
        create=scripts.HEALTH_CREATE,
        update=scripts.HEALTH_UPDATE,
        stdin=context.talosconfig,
        environment={
            "ENDPOINTS": context.endpoints,
            "WORKERS": ",".join(workers),
            # The nodes' exit steps are replaced with their VMs: a replaced node (same name
            # and address) changes this, so the gate checks that its successor joined.
            "MEMBERS": pulumi.Output.all(*[m.id for m in members]).apply(",".join),
            **versions,
        },
        interpreter=SHELL,
        opts=pulumi.ResourceOptions(parent=context.parent, depends_on=after),
    )


def node_exit(
    name: str,
    context: StepContext,
    node_name: str,
    ip: str,
    role: str,
    vm: pulumi.Resource,
    cluster: pulumi.Resource,
) -> command.local.Command:
    """On delete, takes a node out of the cluster: drains it, resets it gracefully (it leaves
    etcd, wipes its state and powers off), deletes its Node object and, for a control plane that
    died first, its etcd member. It runs before the VM goes (it depends on it) and is replaced
    with it (a replaced node leaves, its successor registers afresh). `deleted_with` the
    cluster's secrets: `pulumi destroy` skips it instead of shrinking etcd node by node to its
    last member, which a graceful reset cannot leave."""
    return command.local.Command(
        name,
        create=scripts.NOTHING,
        # In place, so the stored talosconfig and endpoints stay current for the delete.
        update=scripts.NOTHING,
        delete=scripts.NODE_EXIT,
        stdin=context.talosconfig,
        environment={
            "ENDPOINTS": context.endpoints,
            "NODE": ip,
            "NODE_NAME": node_name,
            "ROLE": role,
        },
        interpreter=SHELL,
        opts=pulumi.ResourceOptions(
            parent=context.parent,
            depends_on=[vm],
            replace_with=[vm],
            delete_before_replace=True,
            deleted_with=cluster,
        ),
    )
