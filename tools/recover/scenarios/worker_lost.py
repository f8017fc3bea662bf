"""The scenario worker-lost: one worker's VM (or its host) is gone. Remove the node, recreate
its VM and configuration with a targeted `pulumi up`, check (or, with `--volumes-lost`,
restore) the volumes on its host."""

from __future__ import annotations

from ..facts import Facts
from ..steps import credentials, wait_until
from .common import Options, Procedure
from .node_steps import (
    chosen_node,
    confirm_gone,
    node_ready,
    recreate_vms,
    refresh_vms,
    remove_node_object,
    volumes_back,
    volumes_on_host,
)


def worker_lost(facts: Facts, options: Options) -> Procedure:
    node, choice = chosen_node(facts, options, "worker", "worker-lost")
    some_cp = facts.control_planes[0]
    ready = wait_until(node_ready(node.name), 20, f"{node.name} Ready")
    procedure = Procedure(
        "worker-lost",
        f"the VM of worker {node.name} is gone (deleted, its disk lost, its host reinstalled)",
        choices=[choice],
    )
    procedure.steps = [
        credentials(facts, r2=False),
        confirm_gone(node, some_cp, record=options.volumes_lost and not options.backup),
        volumes_on_host(facts, node),
        remove_node_object(node),
        refresh_vms(facts, [node]),
        recreate_vms(facts, [node], ready, f"{node.name} Ready (installed, rebooted, joined)"),
        volumes_back(facts, node, options),
    ]
    return procedure
