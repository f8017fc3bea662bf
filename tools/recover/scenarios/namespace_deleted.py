"""The scenario namespace-deleted: a namespace was deleted. Stop Argo CD syncing it, restore it
from a Velero backup (a namespace a backup holds), or recreate it empty from the program and
Git (one no backup holds), let Argo CD sync again.

Two procedures, both with Argo CD's sync on hold from the pause to the resume (`--run` prints
the command that gives it back if a step in between fails):
- a namespace the daily Schedule backs up, or any with `--backup`: pause, choose the backup,
  delete what Argo CD recreated, recreate the program's objects in it (its Secrets: the only
  ones there, the GitOps tree holds none), `velero restore`, resume, check;
- any other (`--namespace etcd-backup`, monitoring, cloudflared): no Velero step at all: pause,
  delete what Argo CD recreated, `pulumi up --refresh --target` the program's objects in it (if
  any), resume. Its volumes, if it had any, come back empty.
"""

from __future__ import annotations

from .. import applications
from ..facts import EXIT_USAGE, Facts, ProgramNamespace, RecoverError
from ..steps import Step, credentials, lines, pulumi_up, q, wait_until
from .common import (
    ARGOCD_NAMESPACE,
    VELERO,
    VELERO_NAMESPACE,
    Options,
    Procedure,
    apps_paused,
    argocd_synced,
    pause_patches,
    root_syncing,
    sync_hold,
)
from .velero_steps import (
    NOT_RESTORED,
    backup_holds,
    claims_bound,
    claims_restored,
    newest_backup,
    pods_ready,
)

__all__ = ["NOT_RESTORED", "namespace_deleted"]


def namespace_deleted(facts: Facts, options: Options) -> Procedure:
    if options.nodes:
        raise RecoverError("namespace-deleted takes no --node", EXIT_USAGE)
    apps = applications.tree_applications(facts.root.name, facts.root.path)
    schedules = applications.velero_schedules(apps)
    schedule = schedules[0].name if schedules else ""
    held = schedules[0].namespaces if schedules else ()
    namespace = options.namespace
    if namespace is None:
        if options.run or not held:
            raise RecoverError(
                "namespace-deleted needs --namespace NS (the daily backups hold: "
                + (", ".join(held) or "none")
                + ")",
                EXIT_USAGE,
            )
        namespace = held[0]
        choice = (
            f"namespace {namespace}: an example, the first the Schedule {schedule} backs up; "
            "--namespace NS for the lost one"
        )
    else:
        choice = f"namespace {namespace}"
    if options.backup and options.deleted_at:
        raise RecoverError("--deleted-at chooses a backup: not with --backup", EXIT_USAGE)
    if namespace in NOT_RESTORED:
        raise RecoverError(
            f"{namespace}: not restored from Velero: {NOT_RESTORED[namespace]}", EXIT_USAGE
        )
    leaf_apps = [a.name for a in apps if a.namespace == namespace]
    own = facts.namespaces.get(namespace)
    from_backup = options.backup is not None or namespace in held
    if not from_backup and own is None and not leaf_apps:
        raise RecoverError(
            f"nothing gives {namespace} back: no backup of "
            + (f"the Schedule {schedule}" if schedule else "Velero (no Schedule)")
            + f" holds it, the program does not create it and no Application of "
            f"{facts.root.path} deploys into it (--backup NAME if an older backup holds it)",
            EXIT_USAGE,
        )
    if options.deleted_at and not from_backup:
        raise RecoverError(
            f"--deleted-at chooses a backup: no backup of the Schedule holds {namespace}",
            EXIT_USAGE,
        )
    if from_backup and not schedule and options.backup is None:
        raise RecoverError(
            f"no Velero Schedule in the GitOps tree of {facts.root.path}: nothing to restore from"
        )
    chain = applications.chain_for(namespace, apps, facts.root.name)
    procedure = Procedure(
        "namespace-deleted",
        f"the namespace {namespace} was deleted; Argo CD would recreate it empty",
        choices=[choice],
    )
    steps = [credentials(facts, r2=False), pause_step(facts, namespace, chain)]
    if from_backup:
        procedure.choices.append(
            "backup: "
            + (
                f"{options.backup} (given)"
                if options.backup
                else f"the newest Completed backup of {schedule} that holds {namespace}, "
                "backed up something (and its volume data, if a backup holds any) and started "
                + (
                    f"before {options.deleted_at} (--deleted-at) and before the namespace was "
                    "recreated"
                    if options.deleted_at
                    else "before the namespace was recreated; if it is not there, give "
                    "--deleted-at TIME or --backup NAME"
                )
                + " (default; --backup NAME for another)"
            )
        )
        if namespace not in held:
            procedure.choices.append(
                f"note: the Schedule of this checkout does not back up {namespace} (it holds: "
                f"{', '.join(held) or 'none'}): the backup given must (checked)"
            )
        backup_file = f'"$RECOVER_DIR/backup-{namespace}"'
        steps += [
            pick_step(namespace, schedule, options, backup_file),
            delete_step(namespace, restored=True),
        ]
        if own is not None:
            steps.append(program_step(facts, own, restored=True))
        steps.append(restore_step(namespace, backup_file, own is not None))
    else:
        procedure.choices.append(
            "no backup: "
            + (
                f"the Schedule {schedule} of this checkout does not back up {namespace} "
                f"(it holds: {', '.join(held) or 'none'})"
                if schedule
                else "no Velero Schedule in this checkout"
            )
            + ": no Velero step; the program and Git give it back, its volumes (if any) empty. "
            "If an older backup holds it: --backup NAME"
        )
        steps.append(delete_step(namespace, restored=False))
        if own is not None:
            steps.append(program_step(facts, own, restored=False))
    if options.keep_paused:
        procedure.after.append(
            "Argo CD's sync stays on hold (--keep-paused): the scenario that ran this one gives "
            "it back; by hand: "
            + " ".join(pulumi_up(facts.stack, [facts.root.urn], refresh=True).split(" \\\n  "))
        )
    else:
        steps.append(resume_step(facts, namespace))
        if leaf_apps:
            steps.append(argocd_synced(facts, leaf_apps))
        if from_backup:
            steps.append(check_step(namespace))
    procedure.steps = steps
    if from_backup:
        procedure.after.append(
            f"Where volumes are retained (prod), those of {namespace}'s old claims are Released "
            "and keep their Proxmox disks: `kubectl get pv | grep Released`, delete each (and "
            "its disk) once the restore is checked."
        )
    return procedure


def _none_of_namespace(namespace: str, condition: str) -> str:
    """Shell: no Application deploying into the namespace matches `condition` (jq)."""
    return (
        f"kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io -o json | jq -e --arg "
        f"ns {namespace} '[.items[] | select(.spec.destination.namespace == $ns) "
        f"| select({condition})] | length == 0' >/dev/null"
    )


def pause_step(facts: Facts, namespace: str, chain: list[str]) -> Step:
    root = facts.root
    return Step(
        title=f"Stop Argo CD syncing {namespace}: " + ", ".join(chain),
        run=pause_patches(chain),
        needs=("kubeconfig", "kubectl", "jq"),
        check=lines(
            apps_paused(chain),
            _none_of_namespace(namespace, ".spec.syncPolicy.automated != null"),
        ),
        expect=f"no automated sync on {root.name}, nor on any Application deploying into "
        f"{namespace} (checked in the cluster, whatever this checkout says)",
        notes=(
            f"The root ({root.name}) first: its self-heal would set its children's sync policy "
            "back from Git; then each app-of-apps down to the Applications of "
            f"{namespace} (read from {root.path} in this checkout).",
        ),
        holds=(sync_hold(facts, chain),),
    )


def pick_step(namespace: str, schedule: str, options: Options, backup_file: str) -> Step:
    if options.backup:
        choose = f"backup={q(options.backup)}"
    else:
        deleted = options.deleted_at or ""
        choose = lines(
            # Argo CD recreated the namespace when it was deleted: a backup started since holds
            # its new, empty volumes. A namespace not there gives no time at all: a backup made
            # after it went holds nothing of it and is Completed all the same.
            f"created=\"$(kubectl get namespace {namespace} -o jsonpath='{{.metadata."
            "creationTimestamp}' 2>/dev/null || true)\"",
            f'deleted="{deleted}"',
            'if [ -z "$created" ] && [ -z "$deleted" ]; then',
            f'  echo "error: namespace {namespace} is not there: no time tells which backup '
            "holds its data; run again with --deleted-at TIME (RFC 3339, when it was deleted) "
            f'or --backup NAME (listed by: {VELERO} backup get)" >&2',
            "  exit 1",
            "fi",
            '[ -z "$created" ] || echo "namespace '
            + namespace
            + ' (re)created at $created: only backups started before then"',
            '[ -z "$deleted" ] || echo "deleted at $deleted (--deleted-at): only backups started '
            'before then"',
            'before="$(jq -rn --arg a "$created" --arg b "$deleted" '
            '\'[$a, $b] | map(select(. != "")) | min\')"',
            newest_backup(schedule, namespace, '"$before"', volumes=True),
        )
    return Step(
        title=f"Choose the backup to restore {namespace} from",
        run=lines(
            choose,
            f'[ -n "$backup" ] || {{ echo "error: no Completed backup that holds {namespace} '
            "with data, started before it was deleted or recreated: --backup NAME (listed by: "
            f'{VELERO} backup get)" >&2;'
            " exit 1; }",
            f'echo "$backup" > {backup_file}',
            f'kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$backup" -o jsonpath='
            "'{.metadata.name}: started {.status.startTimestamp}, "
            "{.status.progress.itemsBackedUp} items, expires "
            '{.status.expiration}{"\\n"}\'',
            f'echo "volumes of {namespace} kept by the StorageClass (Released):"',
            'kubectl get pv -o jsonpath=\'{range .items[?(@.status.phase=="Released")]}'
            '{.metadata.name} {.spec.claimRef.namespace}/{.spec.claimRef.name}{"\\n"}{end}\''
            f" | grep ' {namespace}/' || true",
        ),
        needs=("kubeconfig", "kubectl", "jq"),
        check=backup_holds(f'"$(cat {backup_file})"', namespace),
        expect=f"the backup's name, time and items (printed); it is Completed, backed up "
        f"something and holds {namespace}",
        notes=(
            "Decision, defaulting to the newest that can hold the data: the newest Completed "
            f"backup of the daily Schedule {schedule or '(none)'} holding {namespace} that "
            "backed up something (`.status.progress.itemsBackedUp`), with a Completed "
            f"PodVolumeBackup of a claim of {namespace} if any backup has one (its volume "
            "data), and started before the namespace now there was created (or --deleted-at). "
            "Argo CD recreates a deleted namespace at once, empty: a backup made since holds "
            "its empty volumes and is Completed all the same. If the namespace is not there "
            "(sync paused before, or nothing recreates it), no time bounds the choice and a "
            "backup made after the deletion lists it with no item (Velero v1.18.1 does not "
            "check that an included namespace exists): the step refuses to choose; give "
            f"--deleted-at or --backup NAME (`{VELERO} backup get`).",
            "The deleted namespace's volumes may still exist where the StorageClass retains them "
            "(prod: reclaim policy Retain; dev and staging delete them): Released, with the data "
            "as it was when the namespace went (listed by this step). "
            "Rebinding one (clear its claimRef, create the claim with its `volumeName`) loses "
            "nothing, where the backup loses up to a day: worth it for precious data, by hand.",
        ),
    )


def delete_step(namespace: str, restored: bool) -> Step:
    velero = (
        "Velero restores a volume's data only into a claim it creates itself and never "
        "overwrites an object that exists; "
        if restored
        else ""
    )
    return Step(
        title=f"Delete what Argo CD recreated in {namespace}",
        run=f"kubectl delete namespace {namespace} --ignore-not-found --wait=true --timeout=10m",
        needs=("kubeconfig", "kubectl"),
        check=f"! kubectl get namespace {namespace} >/dev/null 2>&1",
        expect=f"namespace {namespace} not found",
        notes=(
            "Argo CD recreates a deleted namespace at once (self-heal), with new, empty volumes "
            f"and before the program's objects are back. {velero}the program recreates its "
            "namespace with its labels (Pod Security) and objects only if it is gone. Nothing "
            "of value is lost: the Applications' objects come back when sync resumes, the "
            "program's (every Secret there: the GitOps tree holds none) from `pulumi up`.",
        ),
        destructive=True,
    )


def program_step(facts: Facts, own: ProgramNamespace, restored: bool) -> Step:
    """The program's objects in the namespace, and the namespace itself if it is the
    program's, recreated by a targeted `pulumi up --refresh`."""
    namespace = own.name
    targets = [*([own.urn] if own.urn else []), *own.objects]
    if own.urn:
        title = f"Recreate the program's namespace {namespace}" + (
            f" and its {len(own.objects)} object(s)" if own.objects else ""
        )
        make = ""
    else:
        title = f"Recreate the program's {len(own.objects)} object(s) in {namespace}"
        # The program puts objects in a namespace it does not create: it must exist first.
        make = (
            f"kubectl get namespace {namespace} >/dev/null 2>&1 "
            f"|| kubectl create namespace {namespace}"
        )
    return Step(
        title=title,
        run=lines(make, pulumi_up(facts.stack, targets=targets, refresh=True)),
        needs=("pulumi", "kubeconfig", "kubectl"),
        check=f"kubectl get namespace {namespace}",
        expect=f"namespace {namespace} Active, with the program's objects in it",
        notes=(
            (
                f"The program creates {namespace} (not Argo CD): the refresh finds it and its "
                "objects gone, the update creates them as the state holds them (labels, "
                "credentials)."
                if own.urn
                else f"The program puts objects in {namespace} (Argo CD creates the namespace): "
                "it is created bare first, the refresh finds the objects gone and the update "
                "creates them as the state holds them."
            )
            + " Every Secret of the namespace is the program's: the GitOps tree holds none "
            "(tests/gitops/test_no_secrets.py) and the backups exclude them."
            + (
                " Velero then skips what exists."
                if restored
                else " Argo CD adds the Applications' objects when sync resumes."
            ),
        ),
    )


def restore_step(namespace: str, backup_file: str, program: bool) -> Step:
    # Named when it runs: a block pasted again makes a new restore, not an AlreadyExists.
    restore_file = f'"$RECOVER_DIR/restore-{namespace}"'
    return Step(
        title=f"Restore {namespace} from the backup",
        run=lines(
            f'name="restore-{namespace}-$(date -u +%Y%m%d%H%M%S)"',
            f'echo "$name" > {restore_file}',
            f'{VELERO} restore create "$name" --from-backup "$(cat {backup_file})" \\',
            f"  --include-namespaces {namespace} --wait",
        ),
        needs=("kubeconfig", "velero", "kubectl", "jq"),
        check=lines(
            f'restore="$(cat {restore_file})"',
            f'kubectl -n {VELERO_NAMESPACE} get restores.velero.io "$restore" '
            "-o jsonpath='{.status.phase}' | grep -qx Completed",
            claims_bound(namespace),
            claims_restored(namespace, f'"$(cat {backup_file})"'),
        ),
        expect=f"the restore named in $RECOVER_DIR/restore-{namespace} Completed (`{VELERO} "
        'restore describe "$(cat $RECOVER_DIR/restore-'
        f'{namespace})" --details` lists what it did); a claim in {namespace} if the backup '
        "held volume data of it, and every claim Bound",
        notes=(
            "Velero restores the pods with a `restore-wait` init container that holds them "
            "until the node agent has written their volumes' data back (kopia, from the "
            "bucket's velero/ prefix).",
            "Secrets are not in the backups (the Schedule excludes them), nor in the GitOps "
            "tree (tests/gitops/test_no_secrets.py): every Secret of the namespace is the "
            "program's"
            + (", back from the step before" if program else " (it puts none here)")
            + "; one made by hand is only in the etcd snapshots. A pod that mounts a missing "
            "one waits (ContainerCreating).",
            "The check fails on a namespace with no claim when the backup held volume data of "
            'it ("every claim Bound" alone passes with none).',
        ),
    )


def resume_step(facts: Facts, namespace: str) -> Step:
    root = facts.root
    hold = sync_hold(facts, [root.name])
    return Step(
        title="Let Argo CD sync again: `pulumi up` gives the root its sync policy back",
        run=hold.undo,
        needs=("pulumi", "kubeconfig", "kubectl", "jq"),
        check=wait_until(
            f"{root_syncing(facts)} && "
            f"{_none_of_namespace(namespace, '.spec.syncPolicy.automated == null')}",
            10,
            "Argo CD syncing again",
        ),
        expect=f"{root.name} syncs automatically again, and so (its self-heal setting them "
        f"back from Git) do the Applications of {namespace}",
        notes=(
            "The root is the program's (components/argocd/root_app.py); the refresh sees "
            "the hand edit and the update undoes it. Argo CD takes the restored objects as "
            "its own (they keep its tracking annotation) and sets any that differ from Git "
            "back.",
        ),
        releases=(hold.key,),
    )


def check_step(namespace: str) -> Step:
    return Step(
        title=f"Check {namespace}",
        run=f"kubectl -n {namespace} get pvc,pods",
        needs=("kubeconfig", "kubectl", "jq"),
        check=lines(
            wait_until(pods_ready(namespace), 15, f"the pods of {namespace} Ready"),
            claims_bound(namespace),
        ),
        expect="every claim Bound and every pod that runs Ready (a finished Job's aside); then "
        "look at the data itself",
    )
