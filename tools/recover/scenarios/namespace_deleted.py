"""The scenario namespace-deleted: a namespace was deleted. Stop Argo CD syncing it, restore it
from a Velero backup, let Argo CD sync again; and the namespaces a Velero restore cannot give
back (`NOT_RESTORED`)."""

from __future__ import annotations

from .. import applications
from ..facts import EXIT_USAGE, Facts, RecoverError
from ..steps import Step, credentials, lines, pulumi_up, q, wait_until
from .common import ARGOCD_NAMESPACE, VELERO_NAMESPACE, Options, Procedure, argocd_synced

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


def namespace_deleted(facts: Facts, options: Options) -> Procedure:
    if options.nodes:
        raise RecoverError("namespace-deleted takes no --node", EXIT_USAGE)
    apps = applications.tree_applications(facts.root.name, facts.root.path)
    schedules = applications.velero_schedules(apps)
    if not schedules:
        raise RecoverError(
            f"no Velero Schedule in the GitOps tree of {facts.root.path}: nothing to restore from"
        )
    schedule = schedules[0]
    namespace = options.namespace
    if namespace is None:
        if options.run or not schedule.namespaces:
            raise RecoverError(
                "namespace-deleted needs --namespace NS (the daily backups hold: "
                + (", ".join(schedule.namespaces) or "none")
                + ")",
                EXIT_USAGE,
            )
        namespace = schedule.namespaces[0]
        choice = (
            f"namespace {namespace}: an example, the first the Schedule {schedule.name} backs up; "
            "--namespace NS for the lost one"
        )
    else:
        choice = f"namespace {namespace}"
    if namespace in NOT_RESTORED:
        raise RecoverError(
            f"{namespace}: not restored from Velero: {NOT_RESTORED[namespace]}", EXIT_USAGE
        )
    chain = applications.chain_for(namespace, apps, facts.root.name)
    root = facts.root
    procedure = Procedure(
        "namespace-deleted",
        f"the namespace {namespace} was deleted; Argo CD would recreate it empty",
        choices=[
            choice,
            "backup: "
            + (
                f"{options.backup} (given)"
                if options.backup
                else f"the newest completed backup of {schedule.name} that holds {namespace} "
                "(default; --backup NAME for another)"
            ),
        ],
    )
    if namespace not in schedule.namespaces:
        procedure.choices.append(
            f"warning: the Schedule {schedule.name} of this checkout does not back up "
            f"{namespace} (it holds: {', '.join(schedule.namespaces) or 'none'}): unless an "
            "older backup does, Git alone gives it back (skip to the last two steps)"
        )
    paused = "{.spec.syncPolicy.automated}"
    leaf_apps = [a.name for a in apps if a.namespace == namespace]

    def none_of_namespace(condition: str) -> str:
        """Shell: no Application deploying into the namespace matches `condition` (jq)."""
        return (
            f"kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io -o json | jq -e --arg "
            f"ns {namespace} '[.items[] | select(.spec.destination.namespace == $ns) "
            f"| select({condition})] | length == 0' >/dev/null"
        )

    syncing = none_of_namespace(".spec.syncPolicy.automated != null")
    not_syncing = none_of_namespace(".spec.syncPolicy.automated == null")
    patch = """--type merge -p '{"spec":{"syncPolicy":{"automated":null}}}'"""
    pause = Step(
        title=f"Stop Argo CD syncing {namespace}: " + ", ".join(chain),
        run=lines(
            *[
                f"kubectl -n {ARGOCD_NAMESPACE} patch applications.argoproj.io {name} {patch}"
                for name in chain
            ]
        ),
        needs=("kubeconfig", "kubectl", "jq"),
        check=lines(
            f'test -z "$(kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io '
            f"{root.name} -o jsonpath='{paused}')\"",
            syncing,
        ),
        expect=f"no automated sync on {root.name}, nor on any Application deploying into "
        f"{namespace} (checked in the cluster, whatever this checkout says)",
        notes=(
            f"The root ({root.name}) first: its self-heal would set its children's sync policy "
            "back from Git; then each app-of-apps down to the Applications of "
            f"{namespace} (read from {root.path} in this checkout).",
        ),
    )
    backup_file = f'"$RECOVER_DIR/backup-{namespace}"'
    if options.backup:
        choose = f"backup={q(options.backup)}"
    else:
        choose = lines(
            f'backup="$(kubectl -n {VELERO_NAMESPACE} get backups.velero.io '
            f"-l velero.io/schedule-name={schedule.name} -o json \\",
            f'  | jq -r --arg ns {namespace} \'[.items[] | select(.status.phase == "Completed")'
            ' | select((.spec.includedNamespaces // ["*"]) | index($ns) or index("*"))]'
            " | sort_by(.status.startTimestamp) | last | .metadata.name // empty')\"",
        )
    pick = Step(
        title=f"Choose the backup to restore {namespace} from",
        run=lines(
            choose,
            f'[ -n "$backup" ] || {{ echo "error: no completed backup holds {namespace}" >&2;'
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
        check=f'kubectl -n {VELERO_NAMESPACE} get backups.velero.io "$(cat {backup_file})" '
        "-o jsonpath='{.status.phase}' | grep -qx Completed",
        expect="the backup's name and time (printed), Completed",
        notes=(
            "Decision, defaulting to the newest: the newest Completed backup of the daily "
            f"Schedule {schedule.name} holding {namespace} (as `velero restore create "
            f"--from-schedule {schedule.name}` picks it), or `--backup NAME` "
            "(`velero backup get`).",
            "The deleted namespace's volumes may still exist where the StorageClass retains them "
            "(prod: reclaim policy Retain; dev and staging delete them): Released, with the data "
            "as it was when the namespace went (listed by this step). "
            "Rebinding one (clear its claimRef, create the claim with its `volumeName`) loses "
            "nothing, where the backup loses up to a day: worth it for precious data, by hand.",
        ),
    )
    delete = Step(
        title=f"Delete what Argo CD recreated in {namespace}",
        run=f"kubectl delete namespace {namespace} --ignore-not-found --wait=true --timeout=10m",
        needs=("kubeconfig", "kubectl"),
        check=f"! kubectl get namespace {namespace} >/dev/null 2>&1",
        expect=f"namespace {namespace} not found",
        notes=(
            "Velero restores a volume's data only into a claim it creates itself and never "
            "overwrites an object that exists: the empty namespace Argo CD made must go first.",
        ),
        destructive=True,
    )
    steps = [credentials(facts, r2=False), pause, pick, delete]
    own = facts.namespaces.get(namespace)
    if own is not None:
        steps.append(
            Step(
                title=f"Recreate the program's namespace {namespace} and its objects",
                run=pulumi_up(facts.stack, targets=[own.urn, *own.objects], refresh=True),
                needs=("pulumi", "kubeconfig", "kubectl"),
                check=f"kubectl get namespace {namespace}",
                expect=f"namespace {namespace} Active, with the program's Secrets and ConfigMaps",
                notes=(
                    f"The program creates {namespace} (not Argo CD): the refresh finds it gone, "
                    "the update creates it with its labels and credentials as the state holds "
                    "them. Velero skips what exists.",
                ),
            )
        )
    restore = f"restore-{namespace}-{options.stamp}"
    steps += [
        Step(
            title=f"Restore {namespace} from the backup",
            run=command_restore(restore, namespace, backup_file),
            needs=("kubeconfig", "velero", "kubectl"),
            check=f"kubectl -n {VELERO_NAMESPACE} get restores.velero.io {restore} "
            "-o jsonpath='{.status.phase}' | grep -qx Completed",
            expect=f"restore {restore} Completed (`velero restore describe {restore} --details` "
            "lists what it did)",
            notes=(
                "Velero restores the pods with a `restore-wait` init container that holds them "
                "until the node agent has written their volumes' data back (kopia, from the "
                "bucket's velero/ prefix).",
            ),
        ),
        Step(
            title=f"Check {namespace}",
            run=f"kubectl -n {namespace} get pvc,pods",
            needs=("kubeconfig", "kubectl", "jq"),
            check=lines(
                f"kubectl -n {namespace} wait --for=condition=Ready pod --all --timeout=15m",
                f"kubectl -n {namespace} get pvc -o json | jq -e "
                "'[.items[] | select(.status.phase != \"Bound\")] | length == 0' >/dev/null",
            ),
            expect="every claim Bound and every pod Ready; then look at the data itself",
        ),
        Step(
            title="Let Argo CD sync again: `pulumi up` gives the root its sync policy back",
            run=pulumi_up(facts.stack, targets=[root.urn], refresh=True),
            needs=("pulumi", "kubeconfig", "kubectl", "jq"),
            check=wait_until(
                f'test -n "$(kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io '
                f"{root.name} -o jsonpath='{paused}')\" && {not_syncing}",
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
        ),
    ]
    if leaf_apps:
        steps.append(argocd_synced(facts, leaf_apps))
    procedure.steps = steps
    procedure.after = [
        f"Where volumes are retained (prod), those of {namespace}'s old claims are Released and "
        "keep their Proxmox disks: `kubectl get pv | grep Released`, delete each (and its disk) "
        "once the restore is checked.",
    ]
    return procedure


def command_restore(name: str, namespace: str, backup_file: str) -> str:
    return (
        f'velero restore create {name} --from-backup "$(cat {backup_file})" \\\n'
        f"  --include-namespaces {namespace} --wait"
    )
