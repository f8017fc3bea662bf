"""The scenario cluster-lost: every VM is gone, the Proxmox hosts are back. Recreate the VMs,
bootstrap etcd from the R2 snapshot, `pulumi up`, restore the stateful namespaces from
Velero, let Argo CD resync."""

from __future__ import annotations

from .. import applications
from ..facts import EXIT_USAGE, Facts, RecoverError
from ..steps import Step, credentials, lines, wait_until
from .common import VELERO_NAMESPACE, Options, Procedure, argocd_synced
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


def cluster_lost(facts: Facts, options: Options) -> Procedure:
    if options.nodes:
        raise RecoverError("cluster-lost recreates every node: no --node", EXIT_USAGE)
    backup = facts.require_backup("cluster-lost")
    nodes = list(facts.nodes)
    procedure = Procedure(
        "cluster-lost",
        "every VM is gone; the Proxmox hosts are back, the Pulumi state and the bucket are intact",
        choices=[
            f"snapshot: {snapshot_choice(options, live=False)}",
            f"bucket {backup.bucket} at {backup.s3_endpoint}",
        ],
        r2=True,
    )
    listing = '"$RECOVER_DIR/namespaces"'
    schedules = applications.velero_schedules(
        applications.tree_applications(facts.root.name, facts.root.path)
    )
    if not schedules:
        raise RecoverError(f"no Velero Schedule in the GitOps tree of {facts.root.path}")
    schedule = schedules[0].name
    velero = Step(
        title="List the namespaces the daily backups hold, once Velero sees the bucket",
        run=lines(
            wait_until(
                f"kubectl -n {VELERO_NAMESPACE} get backupstoragelocations.velero.io default "
                "-o jsonpath='{.status.phase}' | grep -qx Available",
                15,
                "the backup storage location Available",
            ),
            f"kubectl -n {VELERO_NAMESPACE} get backups.velero.io "
            f"-l velero.io/schedule-name={schedule} -o json \\",
            '  | jq -r \'[.items[] | select(.status.phase == "Completed")] '
            "| sort_by(.status.startTimestamp) | last | .spec.includedNamespaces // [] | .[]' \\",
            f"  > {listing}",
            f'echo "namespaces to restore:"; cat {listing}',
        ),
        needs=("kubeconfig", "kubectl", "jq"),
        check=f"test -s {listing}",
        expect="the namespaces of the newest completed backup (the stateful ones), in "
        "$RECOVER_DIR/namespaces",
        notes=(
            "Velero and its Schedule came back with etcd; it finds its backups in the bucket "
            "(velero/ prefix) and reads them with the kopia password the program keeps in the "
            "state (Secret velero/velero-repo-credentials).",
        ),
    )
    restore = Step(
        title="Restore each of those namespaces from Velero",
        run=lines(
            f"for ns in $(cat {listing}); do",
            f'  python -m tools.recover --stack {facts.stack} --workdir "$RECOVER_DIR" '
            '--scenario namespace-deleted --namespace "$ns" --run ${RECOVER_YES:+--yes}',
            "done",
        ),
        needs=("pulumi", "kubeconfig", "kubectl", "velero", "jq"),
        check=lines(
            f"for ns in $(cat {listing}); do",
            '  kubectl -n "$ns" wait --for=condition=Ready pod --all --timeout=15m || exit 1',
            "done",
        ),
        expect="every pod of those namespaces Ready, on restored volumes",
        notes=(
            "The claims restored from etcd point at disks of the old hosts' datastores, which "
            "are gone: each namespace is deleted and restored whole (the scenario "
            "namespace-deleted). Where the StorageClass retains volumes (prod: reclaim policy "
            "Retain) their old PersistentVolumes stay Released: delete them once the data is "
            "checked.",
        ),
        destructive=True,
    )
    cps = list(facts.control_planes)
    procedure.steps = [
        credentials(facts, r2=True),
        snapshot_step(facts, options, []),
        refresh_vms(facts, nodes),
        recreate_vms(
            facts,
            nodes,
            wait_until(etcd_state(cps, "Preparing"), 30, "etcd Preparing everywhere"),
            "etcd `Preparing` on every control plane: configured, waiting for a bootstrap",
        ),
        bootstrap_recover(facts),
        members_rejoin(facts),
        nodes_ready(facts),
        pulumi_reconcile(facts),
        velero,
        restore,
        argocd_synced(facts),
    ]
    procedure.after = [
        "The etcd snapshot is up to its schedule old (1 h in prod): objects changed since are "
        "lost, and Argo CD heals what Git declares.",
    ]
    return procedure
