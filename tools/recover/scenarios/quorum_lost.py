"""The scenario quorum-lost: etcd lost quorum. Take the newest snapshot (live, or from R2),
recreate the VMs of the control planes that are gone, wipe the others' EPHEMERAL, bootstrap
etcd from the snapshot, reconcile."""

from __future__ import annotations

from ..facts import EXIT_USAGE, Facts, RecoverError
from ..steps import Step, credentials, lines, talos, wait_until
from .common import Options, Procedure, argocd_synced
from .etcd_steps import (
    bootstrap_recover,
    etcd_state,
    members_rejoin,
    nodes_ready,
    pulumi_reconcile,
    snapshot_choice,
    snapshot_step,
)
from .node_steps import recreate_vms, refresh_vms


def quorum_lost(facts: Facts, options: Options) -> Procedure:
    cps = list(facts.control_planes)
    lost = [facts.node(n) for n in options.nodes]
    for node in lost:
        if not node.control_plane:
            raise RecoverError(
                f"{node.name} is no control plane: quorum-lost --node names the control "
                "planes whose VMs are gone (a lost worker: worker-lost, afterwards)",
                EXIT_USAGE,
            )
    standing = [n for n in cps if n not in lost]
    backup = facts.require_backup("quorum-lost")
    procedure = Procedure(
        "quorum-lost",
        "etcd lost quorum: restore it from a snapshot",
        choices=[
            "control planes whose VMs are gone: "
            + (", ".join(n.name for n in lost) if lost else "none (--node NAME for each)"),
            f"snapshot: {snapshot_choice(options, live=bool(standing))}",
            f"bucket {backup.bucket} at {backup.s3_endpoint}",
        ],
        r2=True,
    )
    status = Step(
        title="Look at etcd before deciding: is quorum really lost?",
        run=lines(
            # Each control plane directly (-e): the talosconfig's endpoints include dead ones.
            f"for ip in {' '.join(n.ip for n in cps)}; do",
            '  echo "== $ip"',
            '  talosctl -e "$ip" -n "$ip" etcd members || true',
            '  talosctl -e "$ip" -n "$ip" service etcd || true',
            '  talosctl -e "$ip" -n "$ip" get machinetype || true',
            "done",
        ),
        needs=("talosconfig", "talosctl"),
        check=lines(
            f"for ip in {' '.join(n.ip for n in cps)}; do",
            '  if talosctl -e "$ip" -n "$ip" get machinetype -o jsonpath=\'{.spec}\' 2>/dev/null '
            "| grep -qx init; then",
            '    echo "error: $ip is a control plane of type init" >&2; exit 1',
            "  fi",
            "done",
        ),
        expect="no control plane of type `init` (the program makes `controlplane` ones, which a "
        "recovery needs)",
        notes=(
            "Stop here if quorum can come back (a control plane that only reboots, a host that "
            "restarts): that loses nothing, a restore loses what changed since the snapshot.",
        ),
    )
    steps = [credentials(facts, r2=True), status, snapshot_step(facts, options, standing)]
    if lost:
        preparing = lines(
            *[
                wait_until(
                    f"timeout 30 {talos(n, 'version')} >/dev/null 2>&1",
                    20,
                    f"{n.name} answers with the cluster's credentials",
                )
                for n in lost
            ]
        )
        steps += [
            refresh_vms(facts, lost),
            recreate_vms(
                facts,
                lost,
                preparing,
                "the new control plane(s) configured: they answer the Talos API with the "
                "cluster's credentials (etcd waits for a bootstrap)",
            ),
        ]
    if standing:
        steps.append(
            Step(
                title="Wipe the EPHEMERAL partition (etcd's data) of "
                + ", ".join(n.name for n in standing),
                run=lines(
                    *[
                        talos(
                            n,
                            "reset",
                            "--graceful=false",
                            "--reboot",
                            "--system-labels-to-wipe=EPHEMERAL",
                            "--wait=false",
                        )
                        for n in standing
                    ]
                ),
                needs=("talosconfig", "talosctl"),
                check=wait_until(etcd_state(cps, "Preparing"), 20, "etcd Preparing everywhere"),
                expect="etcd `Preparing` on every control plane (waiting for a bootstrap)",
                notes=(
                    "Only with the snapshot in hand (the step before). A control plane that does "
                    "not answer at all: reset its VM in Proxmox (`qm reset <vm_id>` on its host) "
                    "and run this step again.",
                    "Workers are not touched: their kubelets reconnect once the API is back.",
                ),
                destructive=True,
            )
        )
    steps += [
        bootstrap_recover(facts),
        members_rejoin(facts),
        nodes_ready(facts),
        pulumi_reconcile(facts),
        argocd_synced(facts),
    ]
    procedure.steps = steps
    procedure.after = [
        "Objects created after the snapshot are gone and those deleted since are back: Argo CD "
        "heals what Git declares; a volume provisioned after the snapshot is an orphaned "
        "Proxmox disk (vm-9999-...) to delete by hand.",
    ]
    return procedure
