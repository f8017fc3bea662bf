"""The five recovery scenarios, each a function from the stack's facts (and the operator's
choices, `Options`) to its numbered steps (`Procedure`); here, their registry (`SCENARIOS`: name,
one-line summary, builder) and `procedure`, which builds one by name.

One module per scenario (`worker_lost`, `control_plane_lost`, `quorum_lost`,
`namespace_deleted`, `cluster_lost`); what they share: `common` (`Options`, `Procedure`, the
Argo CD pause and wait), `node_steps` (a lost node's VM, out and back), `etcd_steps` (etcd
restored from a snapshot), `velero_steps` (which backup, the Schedule on hold, the restore of
several namespaces)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..facts import EXIT_USAGE, Facts, RecoverError
from .cluster_lost import cluster_lost
from .common import Options, Procedure
from .control_plane_lost import control_plane_lost
from .namespace_deleted import namespace_deleted
from .quorum_lost import quorum_lost
from .worker_lost import worker_lost

__all__ = ["SCENARIOS", "Options", "Procedure", "Scenario", "procedure"]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    build: Callable[[Facts, Options], Procedure]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "worker-lost",
            "one worker's VM (or its host) is gone: remove the node, recreate its VM and "
            "configuration with a targeted `pulumi up`, restore its host's volumes if lost",
            worker_lost,
        ),
        Scenario(
            "control-plane-lost",
            "one control plane is gone, quorum kept: remove its etcd member and Node, recreate "
            "it, check it rejoined",
            control_plane_lost,
        ),
        Scenario(
            "quorum-lost",
            "etcd lost quorum: the newest snapshot (live or from R2, decrypted with age), "
            "EPHEMERAL wiped, `talosctl bootstrap --recover-from`",
            quorum_lost,
        ),
        Scenario(
            "namespace-deleted",
            "a namespace was deleted: stop Argo CD syncing it, restore it from Velero (or, if no "
            "backup holds it, recreate it from the program and Git), sync again",
            namespace_deleted,
        ),
        Scenario(
            "cluster-lost",
            "every VM is gone, Proxmox is back: recreate the VMs, bootstrap etcd from the R2 "
            "snapshot, pause Velero's Schedule, `pulumi up`, restore the volumes from a backup "
            "made before the snapshot, Argo CD resyncs",
            cluster_lost,
        ),
    )
}


def procedure(name: str, facts: Facts, options: Options) -> Procedure:
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise RecoverError(
            f"unknown scenario {name!r}: expected one of {', '.join(SCENARIOS)}", EXIT_USAGE
        )
    return scenario.build(facts, options)
