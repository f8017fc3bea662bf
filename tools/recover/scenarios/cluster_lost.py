"""The scenario cluster-lost: every VM is gone, the Proxmox hosts are back. Recreate the VMs,
bootstrap etcd from the R2 snapshot, pause Velero's Schedule as soon as the API answers,
`pulumi up`, restore the namespaces that had volumes from a backup made before the snapshot,
unpause the Schedule, let Argo CD resync.

Velero comes back with etcd, its Schedule with it: run as soon as Velero starts (a missed run),
or at 03:00 UTC, it would back up the volumes as they are after the loss (pods that cannot run:
no data, and Completed all the same; `velero_steps`), and become "the newest Completed backup".
So the Schedule is paused before Velero runs (Argo CD's sync of the velero add-on first), the
backup is chosen among those started before the etcd snapshot was taken, and each namespace is
restored from that one, named; the Schedule and Argo CD's sync are given back at the end.
"""

from __future__ import annotations

from offline.validators.gitops.platform import CSI_PROVISIONER

from ..facts import EXIT_USAGE, Facts, RecoverError
from ..steps import Step, credentials, lines, q, wait_until
from .common import VELERO, VELERO_NAMESPACE, Options, Procedure, argocd_synced
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
from .velero_steps import (
    HOLDS_NAMESPACE,
    NOT_RESTORED,
    give_back,
    newest_backup,
    pause_schedule,
    restore_namespaces,
    schedule_name,
)


def cluster_lost(facts: Facts, options: Options) -> Procedure:
    if options.nodes:
        raise RecoverError("cluster-lost recreates every node: no --node", EXIT_USAGE)
    backup = facts.require_backup("cluster-lost")
    schedule = schedule_name(facts)
    nodes = list(facts.nodes)
    procedure = Procedure(
        "cluster-lost",
        "every VM is gone; the Proxmox hosts are back, the Pulumi state and the bucket are intact",
        choices=[
            f"snapshot: {snapshot_choice(options, live=False)}",
            "volume backup: "
            + (
                f"{options.backup} (given)"
                if options.backup
                else f"the newest Completed backup of {schedule} started before the snapshot was "
                "taken (default; --backup NAME for another)"
            ),
            f"bucket {backup.bucket} at {backup.s3_endpoint}",
        ],
        r2=True,
    )
    cps = list(facts.control_planes)
    procedure.steps = [
        credentials(facts, r2=True),
        snapshot_step(facts, options, [], record_time=options.backup is None),
        refresh_vms(facts, nodes),
        recreate_vms(
            facts,
            nodes,
            wait_until(etcd_state(cps, "Preparing"), 30, "etcd Preparing everywhere"),
            "etcd `Preparing` on every control plane: configured, waiting for a bootstrap",
        ),
        bootstrap_recover(facts),
        members_rejoin(facts),
        pause_schedule(facts, schedule),
        nodes_ready(facts),
        pulumi_reconcile(facts, exclude=(facts.root.urn,)),
        choose_backup(schedule, options),
        restore_namespaces(
            facts,
            keep_paused=True,
            listing=NAMESPACES,
            choose=f'backup="$(cat {BACKUP_FILE})"',
            check=restores_done(),
            expect="a Completed restore from the backup of each of those namespaces it holds",
            notes=(
                "The claims restored from etcd point at disks of the old hosts' datastores, "
                "which are gone. Argo CD's sync stays on hold through all of them "
                "(--keep-paused); the next step gives it back once. Where the StorageClass "
                "retains volumes (prod: reclaim policy Retain) the old PersistentVolumes stay "
                "Released: delete them once the data is checked.",
            ),
        ),
        give_back(facts, schedule),
        argocd_synced(facts),
    ]
    procedure.after = [
        "The etcd snapshot is up to its schedule old (1 h in prod): objects changed since are "
        "lost, and Argo CD heals what Git declares.",
    ]
    return procedure


NAMESPACES = '"$RECOVER_DIR/namespaces"'
BACKUP_FILE = '"$RECOVER_DIR/backup"'


def choose_backup(schedule: str, options: Options) -> Step:
    """The backup to restore from, and the namespaces to restore: those it holds, and those
    with a Proxmox CSI volume (their disks are gone: recreated empty if the backup does not
    hold them)."""
    if options.backup:
        choose = f"backup={q(options.backup)}"
    else:
        choose = lines(
            'before="$(cat "$RECOVER_DIR/snapshot-time")"',
            newest_backup(schedule, '""', '"$before"'),
            f'[ -n "$backup" ] || {{ echo "error: no Completed backup of {schedule} started '
            "before the etcd snapshot ($before): --backup NAME (listed by: "
            f'{VELERO} backup get)" >&2; exit 1; }}',
        )
    return Step(
        title="Choose the volume backup (once Velero sees the bucket) and the namespaces to "
        "restore",
        run=lines(
            wait_until(
                f"kubectl -n {VELERO_NAMESPACE} get backupstoragelocations.velero.io default "
                "-o jsonpath='{.status.phase}' | grep -qx Available",
                15,
                "the backup storage location Available",
            ),
            choose,
            f'echo "$backup" > {BACKUP_FILE}',
            f'kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$backup" -o jsonpath='
            "'{.metadata.name}: started {.status.startTimestamp}, expires "
            '{.status.expiration}{"\\n"}\'',
            "{",
            f'  kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$backup" -o json '
            "| jq -r '.spec.includedNamespaces // [] | .[] | select(. != \"*\")'",
            f"  kubectl get pv -o json | jq -r --arg driver {CSI_PROVISIONER} "
            '\'.items[] | select(.spec.csi.driver == $driver and .status.phase == "Bound") '
            "| .spec.claimRef.namespace'",
            f"}} | sort -u > {NAMESPACES}",
            f'echo "namespaces to restore:"; cat {NAMESPACES}',
        ),
        needs=("kubeconfig", "kubectl", "jq"),
        check=lines(
            f'kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$(cat {BACKUP_FILE})" '
            "-o jsonpath='{.status.phase}' | grep -qx Completed",
            f"test -f {NAMESPACES}",
        ),
        expect="the backup (printed, Completed) in $RECOVER_DIR/backup; the namespaces it holds "
        "and those with a volume in $RECOVER_DIR/namespaces",
        notes=(
            "Decision, defaulting to the newest that holds data: the newest Completed backup of "
            f"{schedule} started before the etcd snapshot was taken ($RECOVER_DIR/snapshot-time). "
            "A backup made after it may be one the restored Schedule made of the lost volumes; "
            "one made between the snapshot and the loss is left out too (the price of the rule, "
            "up to an hour a day in prod): `--backup NAME` takes it "
            f"(`{VELERO} backup get`).",
            "Velero finds its backups in the bucket (velero/ prefix) and reads them with the "
            "kopia password the program keeps in the state (Secret "
            "velero/velero-repo-credentials).",
        ),
    )


def restores_done() -> str:
    """Shell: each namespace the backup holds has a Completed restore from it."""
    return lines(
        f'backup="$(cat {BACKUP_FILE})"',
        f'restores="$(kubectl -n {VELERO_NAMESPACE} get restores.velero.io -o json)"',
        f"for ns in $(cat {NAMESPACES}); do",
        f'  case "$ns" in {"|".join(NOT_RESTORED)}) continue ;; esac',
        f'  jq -e --arg ns "$ns" \'{HOLDS_NAMESPACE}\' "$RECOVER_DIR/backup.json" >/dev/null '
        "|| continue",
        '  printf \'%s\\n\' "$restores" | jq -e --arg ns "$ns" --arg b "$backup" '
        '\'[.items[] | select(.spec.backupName == $b and .status.phase == "Completed") '
        "| select(.spec.includedNamespaces // [] | index($ns) != null)] | length > 0' >/dev/null "
        '|| { echo "error: no Completed restore of $ns from $backup" >&2; exit 1; }',
        "done",
    )
