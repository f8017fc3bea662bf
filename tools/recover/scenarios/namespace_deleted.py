"""The scenario namespace-deleted: a namespace was deleted. Stop Argo CD syncing it, restore it
from a Velero backup (a namespace a backup holds), or recreate it empty from the program and
Git (one no backup holds), let Argo CD sync again.

Two procedures, both with Argo CD's sync on hold from the pause to the resume (`--run` prints
the command that gives it back if a step in between fails):
- a namespace the daily Schedule backs up, or any with `--backup`: pause, choose the backup,
  delete what Argo CD recreated, recreate the program's objects in it, `velero restore`,
  resume, check;
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
                else f"the newest Completed backup of {schedule} that holds {namespace} "
                "and started before the namespace was recreated (default; --backup NAME for "
                "another)"
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
        steps.append(restore_step(namespace, options, backup_file, own is not None))
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
        choose = lines(
            # Argo CD recreated the namespace when it was deleted: a backup started since holds
            # its new, empty volumes.
            f"created=\"$(kubectl get namespace {namespace} -o jsonpath='{{.metadata."
            "creationTimestamp}' 2>/dev/null || true)\"",
            f'[ -z "$created" ] || echo "namespace {namespace} (re)created at $created: only '
            'backups started before then"',
            newest_backup(schedule, namespace, '"$created"'),
        )
    return Step(
        title=f"Choose the backup to restore {namespace} from",
        run=lines(
            choose,
            f'[ -n "$backup" ] || {{ echo "error: no Completed backup that holds {namespace} '
            "(and started before it was recreated): --backup NAME (listed by: velero backup "
            'get)" >&2;'
            " exit 1; }",
            f'echo "$backup" > {backup_file}',
            f'kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$backup" -o jsonpath='
            "'{.metadata.name}: started {.status.startTimestamp}, expires "
            '{.status.expiration}{"\\n"}\'',
            f'echo "volumes of {namespace} kept by the StorageClass (Released):"',
            'kubectl get pv -o jsonpath=\'{range .items[?(@.status.phase=="Released")]}'
            '{.metadata.name} {.spec.claimRef.namespace}/{.spec.claimRef.name}{"\\n"}{end}\''
            f" | grep ' {namespace}/' || true",
        ),
        needs=("kubeconfig", "kubectl", "jq"),
        check=backup_holds(f'"$(cat {backup_file})"', namespace),
        expect=f"the backup's name and time (printed); it is Completed and holds {namespace}",
        notes=(
            "Decision, defaulting to the newest that can hold the data: the newest Completed "
            f"backup of the daily Schedule {schedule or '(none)'} holding {namespace} and "
            "started before the namespace now there was created. Argo CD recreates a deleted "
            "namespace at once, empty: a backup made since holds its empty volumes and is "
            "Completed all the same (velero skips nothing it can see). `--backup NAME` takes "
            "another (`velero backup get`). If the namespace did not come back, check the "
            "chosen backup's time against when it was deleted.",
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
            "of value is lost: what Git declares comes back when sync resumes.",
        ),
        destructive=True,
    )


def program_step(facts: Facts, own: ProgramNamespace, restored: bool) -> Step:
    namespace = own.name
    objects = f" and its {len(own.objects)} object(s)" if own.objects else ""
    return Step(
        title=f"Recreate the program's namespace {namespace}{objects}",
        run=pulumi_up(facts.stack, targets=[own.urn, *own.objects], refresh=True),
        needs=("pulumi", "kubeconfig", "kubectl"),
        check=f"kubectl get namespace {namespace}",
        expect=f"namespace {namespace} Active, with the program's objects in it",
        notes=(
            f"The program creates {namespace} (not Argo CD): the refresh finds it and its "
            "objects gone, the update creates them as the state holds them (labels, "
            "credentials)."
            + (
                " Velero then skips what exists."
                if restored
                else " Argo CD adds what Git declares when sync resumes."
            ),
        ),
    )


def restore_step(namespace: str, options: Options, backup_file: str, program: bool) -> Step:
    restore = f"restore-{namespace}-{options.stamp}"
    return Step(
        title=f"Restore {namespace} from the backup",
        run=(
            f'velero restore create {restore} --from-backup "$(cat {backup_file})" \\\n'
            f"  --include-namespaces {namespace} --wait"
        ),
        needs=("kubeconfig", "velero", "kubectl", "jq"),
        check=lines(
            f"kubectl -n {VELERO_NAMESPACE} get restores.velero.io {restore} "
            "-o jsonpath='{.status.phase}' | grep -qx Completed",
            claims_bound(namespace),
        ),
        expect=f"restore {restore} Completed (`velero restore describe {restore} --details` "
        "lists what it did); every claim Bound",
        notes=(
            "Velero restores the pods with a `restore-wait` init container that holds them "
            "until the node agent has written their volumes' data back (kopia, from the "
            "bucket's velero/ prefix).",
            "Secrets are not in the backups (the Schedule excludes them): "
            + ("the program's are back from the step before; " if program else "")
            + "Argo CD writes those Git declares when its sync resumes. A pod that mounts one "
            "waits (ContainerCreating) until then.",
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
