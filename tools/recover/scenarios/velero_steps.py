"""What the scenarios that restore volumes share: which Velero backup may be restored, the
namespaces a restore cannot give back (`NOT_RESTORED`), the wait for a namespace's pods, the
Schedule put on hold and given back (cluster-lost), and the loop that restores several
namespaces, each through the scenario namespace-deleted (worker-lost and control-plane-lost
`--volumes-lost`, cluster-lost).

Which backup: a scheduled backup that runs while a namespace's data is missing is Completed all
the same, without that data. Velero skips the volumes of a pod that does not run, without an
error (vmware-tanzu/velero v1.18.1 pkg/podvolume/backupper.go, BackupPodVolumes:
`kube.IsPodRunning`, then skipAllPodVolumes and no error), and backs up the empty volumes of a
namespace Argo CD recreated. So "the newest Completed backup" is not enough: the choice keeps
only the backups started before the data went (the namespace recreated, the node lost, the etcd
snapshot taken), and a procedure that restores several namespaces chooses once and names the
backup to each.
"""

from __future__ import annotations

from offline.validators.gitops.platform import CSI_PROVISIONER

from .. import applications
from ..facts import Facts, RecoverError
from ..steps import Hold, Step, lines, q, wait_until
from .common import (
    ARGOCD_NAMESPACE,
    VELERO,
    VELERO_NAMESPACE,
    apps_paused,
    pause_patches,
    root_syncing,
    sync_hold,
)

#: Namespaces a Velero restore cannot give back, and what does.
NOT_RESTORED: dict[str, str] = {
    VELERO_NAMESPACE: "Velero cannot restore itself: `pulumi up --refresh` recreates the "
    "namespace and its Secrets (the same kopia repository password, from the state) and Argo CD "
    "the add-on; its backups, in the bucket, reappear on their own",
    ARGOCD_NAMESPACE: "Argo CD holds no data: `pulumi up --refresh` installs it again with the "
    "root Application, which syncs everything else from Git",
    "kube-system": "Talos and the program own it: restore the cluster (quorum-lost) instead",
    "kube-public": "Kubernetes recreates it",
    "kube-node-lease": "Kubernetes recreates it",
}

SCHEDULE_LABEL = "velero.io/schedule-name"
"""The label Velero puts on the backups of a Schedule (as `velero restore create
--from-schedule` selects them)."""

HOLDS_NAMESPACE = (
    "((.spec.includedNamespaces // []) as $in | ($in | length == 0) "
    'or ($in | index($ns) != null) or ($in | index("*") != null))'
)
"""jq, on a Backup, with `--arg ns`: its namespaces include `$ns` (none listed, or `*`: all)."""

SCHEDULE_HOLD = "velero-schedule"


def schedule_name(facts: Facts) -> str:
    """The Schedule of the daily volume backups, from the GitOps tree of this checkout."""
    schedules = applications.velero_schedules(
        applications.tree_applications(facts.root.name, facts.root.path)
    )
    if not schedules:
        raise RecoverError(f"no Velero Schedule in the GitOps tree of {facts.root.path}")
    return schedules[0].name


BACKUP_NAME_LABEL = "velero.io/backup-name"
"""The label Velero puts on a backup's PodVolumeBackups (vmware-tanzu/velero v1.18.1
pkg/podvolume/backupper.go, newPodVolumeBackup), with `velero.io/pvc-uid` on those of a claim's
volume (not an emptyDir's)."""

HAS_ITEMS = "((.status.progress.itemsBackedUp // 0) > 0)"
"""jq, on a Backup: it backed up something. Velero v1.18.1 does not check that an included
namespace exists: a backup of a namespace that is gone ends Completed, with no item."""


def volume_backups(namespace: str, backup: str = "") -> str:
    """Shell: the JSON array (`jq -c`) of the backups (by name) with a Completed PodVolumeBackup
    of a claim's volume of a pod in `namespace` (a word); with `backup` (a word), of that
    backup's only."""
    selector = f" -l {BACKUP_NAME_LABEL}={backup}" if backup else ""
    return (
        f"kubectl -n {VELERO_NAMESPACE} get podvolumebackups.velero.io{selector} -o json "
        f'| jq -c --arg ns {namespace} \'[.items[] | select(.status.phase == "Completed" '
        'and .spec.pod.namespace == $ns and .metadata.labels["velero.io/pvc-uid"] != null) '
        f'| .metadata.labels["{BACKUP_NAME_LABEL}"]] | unique\''
    )


def newest_backup(schedule: str, namespace: str, before: str, volumes: bool = False) -> str:
    """Shell setting $backup to the newest Completed backup of `schedule` that backed up
    something, holds `namespace` (a word; "" for any) and started before `before` (a word: a
    Kubernetes time, `2026-05-04T02:00:00Z`; "" for no bound); empty if there is none.

    With `volumes` (a namespace named): if any backup holds a claim's volume data of the
    namespace (a Completed PodVolumeBackup), only such backups: the namespace keeps data, and a
    backup without it (made while its pods did not run, or after it was gone) is no restore."""
    pvb = [f'pvb="$({volume_backups(namespace)})"'] if volumes else []
    with_volumes = (
        ["    | select(($pvb | length) == 0 or (.metadata.name | IN($pvb[])))"] if volumes else []
    )
    return lines(
        *pvb,
        f'backup="$(kubectl -n {VELERO_NAMESPACE} get backups.velero.io '
        f"-l {SCHEDULE_LABEL}={schedule} -o json \\",
        f"  | jq -r --arg ns {namespace} --arg before {before} "
        + ('--argjson pvb "$pvb" ' if volumes else "")
        + f'\'[.items[] | select(.status.phase == "Completed") | select({HAS_ITEMS})',
        '    | select($before == "" or .status.startTimestamp < $before)',
        f'    | select($ns == "" or {HOLDS_NAMESPACE})',
        *with_volumes,
        "    ] | sort_by(.status.startTimestamp) | last | .metadata.name // empty')\"",
    )


def backup_holds(backup: str, namespace: str) -> str:
    """Shell: the backup (a word) is Completed, backed up something and holds the namespace (a
    word)."""
    return (
        f"kubectl -n {VELERO_NAMESPACE} get backups.velero.io {backup} -o json "
        f'| jq -e --arg ns {namespace} \'.status.phase == "Completed" and {HAS_ITEMS} '
        f"and {HOLDS_NAMESPACE}' >/dev/null"
    )


def pods_ready(namespace: str) -> str:
    """Shell: every pod of the namespace (a word) that is meant to run is Ready; none at all
    passes (a namespace of CronJobs), and the finished pods of Jobs are left out
    (`kubectl wait pod --all` fails on the first and waits forever on the second)."""
    return (
        f"kubectl -n {namespace} get pods -o json | jq -e '[.items[] "
        '| select(.status.phase != "Succeeded" and .status.phase != "Failed") '
        '| select([.status.conditions[]? | select(.type == "Ready" and .status == "True")] '
        "| length == 0)] | length == 0' >/dev/null"
    )


def claims_bound(namespace: str) -> str:
    """Shell: every claim of the namespace (a word) is Bound (none passes)."""
    return (
        f"kubectl -n {namespace} get pvc -o json | jq -e "
        "'[.items[] | select(.status.phase != \"Bound\")] | length == 0' >/dev/null"
    )


def claims_restored(namespace: str, backup: str) -> str:
    """Shell: the namespace (a word) has a claim, or the backup (a word) held no volume data of
    it: "every claim Bound" alone passes with no claim at all."""
    return lines(
        f'pvb="$({volume_backups(namespace, backup)})"',
        f"claims=\"$(kubectl -n {namespace} get pvc -o json | jq '.items | length')\"",
        'if [ "$pvb" != "[]" ] && [ "$claims" -eq 0 ]; then',
        f'  echo "error: {namespace} has no claim, but its backup held volume data of it" >&2',
        "  exit 1",
        "fi",
    )


def schedule_paused(schedule: str) -> str:
    return (
        f"kubectl -n {VELERO_NAMESPACE} get schedules.velero.io {schedule} "
        "-o jsonpath='{.spec.paused}' | grep -qx true"
    )


def schedule_hold(schedule: str) -> Hold:
    return Hold(
        SCHEDULE_HOLD,
        f"Velero's Schedule {schedule}",
        f"{VELERO} schedule unpause {schedule}",
        when="once the volumes are restored: before, it would back up empty volumes",
    )


def velero_chain(facts: Facts) -> list[str]:
    """The Applications to stop syncing before the Schedule is paused: the velero add-on's
    Application and the app-of-apps above it, the root first."""
    apps = applications.tree_applications(facts.root.name, facts.root.path)
    return applications.chain_for(VELERO_NAMESPACE, apps, facts.root.name)


def pause_schedule(facts: Facts, schedule: str) -> Step:
    """cluster-lost: the Schedule paused as soon as the API answers, before Velero runs."""
    chain = velero_chain(facts)
    pause = " && \\\n    ".join(
        [*pause_patches(chain).splitlines(), f"{VELERO} schedule pause {schedule}"]
    )
    return Step(
        title=f"Pause Velero's Schedule {schedule} before Velero starts",
        run=wait_until(pause, 5, f"Argo CD's {chain[-1]} and the Schedule paused", every=10),
        needs=("kubeconfig", "kubectl", "velero", "jq"),
        check=lines(apps_paused(chain), schedule_paused(schedule)),
        expect=f"no automated sync on {', '.join(chain)}; the Schedule {schedule} paused",
        notes=(
            "The Schedule came back with etcd and runs as soon as Velero does (after every "
            "node is Ready): at once if its last backup is more than a day old (vmware-tanzu/"
            "velero v1.18.1 pkg/controller/schedule_controller.go, getNextRunTime), else at "
            "03:00 UTC. Its backup would hold the volumes as they are now, gone or empty, and "
            "be Completed all the same. `velero -n velero schedule pause` sets its spec.paused "
            "(pkg/cmd/cli/schedule/pause.go); it needs the API only, not Velero.",
            f"Argo CD first ({', '.join(chain)}, the root first): so that no sync of the add-on "
            "(its self-heal, a change in Git) can set the Schedule back as Git declares it. "
            "Both are given back in the last steps, after the restores. Retried for 5 "
            "minutes: the API serves the restored CRDs a moment after it answers.",
        ),
        holds=(sync_hold(facts, chain), schedule_hold(schedule)),
    )


def give_back(facts: Facts, schedule: str) -> Step:
    """cluster-lost: the Schedule unpaused and Argo CD's sync given back, after the restores."""
    chain = velero_chain(facts)
    unpaused = (
        f'[ "$(kubectl -n {VELERO_NAMESPACE} get schedules.velero.io {schedule} '
        "-o jsonpath='{.spec.paused}')\" != true ]"
    )
    syncing = (
        f"kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io -o json | jq -e --args "
        "'[.items[] | select(.metadata.name | IN($ARGS.positional[])) "
        "| select(.spec.syncPolicy.automated == null)] | length == 0' "
        + " ".join(q(n) for n in chain)
        + " >/dev/null"
    )
    hold = sync_hold(facts, chain)
    return Step(
        title=f"Unpause the Schedule {schedule} and let Argo CD sync again",
        run=lines(f"{VELERO} schedule unpause {schedule}", hold.undo),
        needs=("pulumi", "kubeconfig", "kubectl", "velero", "jq"),
        check=wait_until(
            f"{unpaused} && {root_syncing(facts)} && {syncing}", 10, "Argo CD syncing again"
        ),
        expect=f"the Schedule {schedule} not paused; {', '.join(chain)} sync automatically "
        "again (the root from `pulumi up`, the others from its self-heal)",
        notes=(
            "The Schedule backs up at once if a run was missed (its last backup is more than a "
            "day old), else at 03:00 UTC: either way of the restored volumes, the rebuilt "
            "cluster's first backup.",
        ),
        releases=(hold.key, SCHEDULE_HOLD),
    )


def lost_claims(zone: str | None) -> str:
    """Shell (in a loop over "$ns"): the claims of "$ns" on Proxmox CSI disks (of `zone`, a
    host; None: every such disk, cluster-lost) and the pods that mount them deleted: a
    StatefulSet's controller recreates its pods and, for a pod that is Pending, their missing
    claims (kubernetes pkg/controller/statefulset/stateful_set_control.go); Argo CD a claim
    Git declares. The namespace and everything else in it stay."""
    claims = '"$RECOVER_DIR/claims-$ns"'
    pods = '"$RECOVER_DIR/pods-$ns"'
    in_zone = (
        f' and ((.spec.csi.volumeHandle | split("/"))[1] == "{zone}")' if zone is not None else ""
    )
    return lines(
        f'kubectl get pv -o json | jq -r --arg driver {CSI_PROVISIONER} --arg ns "$ns" '
        "'.items[] | select(.spec.csi.driver == $driver and .spec.claimRef.namespace == $ns"
        f"{in_zone}) | .spec.claimRef.name' | sort -u > {claims}",
        f'kubectl -n "$ns" get pods -o json | jq -r --rawfile c {claims} '
        '\'($c | split("\\n") | map(select(. != ""))) as $claims | .items[] '
        '| select(any(.spec.volumes[]?; (.persistentVolumeClaim.claimName // "") '
        f"| IN($claims[]))) | .metadata.name' > {pods}",
        f'echo "$ns: claims on lost disks: $(cat {claims} | tr "\\n" " ")"',
        f"if [ -s {claims} ]; then",
        f'  xargs kubectl -n "$ns" delete pvc --wait=false < {claims}',
        f"  if [ -s {pods} ]; then",
        f'    xargs kubectl -n "$ns" delete pod --wait=true --timeout=5m < {pods}',
        "  fi",
        "fi",
    )


def restore_namespaces(
    facts: Facts,
    keep_paused: bool,
    listing: str,
    choose: str,
    check: str,
    expect: str,
    notes: tuple[str, ...],
    zone: str | None = None,
) -> Step:
    """Each namespace of `listing` (a file of names): one the backup `choose` (shell) sets in
    $backup holds goes through the scenario namespace-deleted, from that backup; any other
    keeps its namespace: only its claims on lost disks (of `zone`, a host; None: every Proxmox
    CSI disk) and the pods that mount them are deleted, and their controllers recreate them
    empty. With `keep_paused`, each restore leaves Argo CD's sync on hold: the caller gives it
    back once, after the last."""
    nested = (
        f'python -m tools.recover --stack {facts.stack} --workdir "$RECOVER_DIR" '
        '--scenario namespace-deleted --namespace "$ns"'
    )
    flags = "--keep-paused --run" if keep_paused else "--run"
    skipped = "|".join(NOT_RESTORED)
    reset = "\n".join(f"    {line}" for line in lost_claims(zone).splitlines())
    return Step(
        title="Restore those namespaces: from the backup, or their lost claims recreated empty",
        run=lines(
            choose,
            f'kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$backup" -o json '
            '> "$RECOVER_DIR/backup.json"',
            f"for ns in $(cat {listing}); do",
            '  case "$ns" in',
            f'    {skipped}) echo "$ns: not restored here (docs/recovery.md)"; continue ;;',
            "  esac",
            f'  if jq -e --arg ns "$ns" \'{HOLDS_NAMESPACE}\' "$RECOVER_DIR/backup.json" '
            ">/dev/null; then",
            f'    {nested} --backup "$backup" {flags} ${{RECOVER_YES:+--yes}}',
            "  else",
            '    echo "$ns: not in $backup: its claims on lost disks recreated empty"',
            reset,
            "  fi",
            "done",
        ),
        needs=("python", "pulumi", "kubeconfig", "kubectl", "velero", "jq"),
        check=check,
        expect=expect,
        notes=(
            *notes,
            "A namespace the backup holds goes through the scenario namespace-deleted (python "
            "-m tools.recover, from the repository's .venv): Argo CD stops syncing it, the "
            "namespace (with the claims of the lost disks) is deleted, the program's objects "
            "in it are recreated, Velero restores it from the backup named here (never a "
            "newer one).",
            "A namespace the backup does not hold (monitoring's Prometheus) has no data to "
            "restore and is not deleted: only its claims on the lost disks and the pods that "
            "mount them are (listed in $RECOVER_DIR/claims-<ns>, pods-<ns>). The StatefulSet "
            "controller recreates the pods and, for a Pending pod, its missing claims, on new "
            "disks; Argo CD a claim Git declares. Their old PersistentVolumes stay Released "
            "where the StorageClass retains them (prod): delete them.",
        ),
        destructive=True,
    )
