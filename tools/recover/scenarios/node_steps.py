"""The steps for a node whose VM is gone: which node (`chosen_node`), making sure it is gone,
its host's volumes, taking it out of Kubernetes, letting Pulumi see its VM gone and
recreating it with a targeted `pulumi up` (worker-lost, control-plane-lost; the VM steps also
quorum-lost and cluster-lost).

What the program's resources do when a node comes back, read in the providers' sources:
- bpg/terraform-provider-proxmox `vmRead` forgets a VM that no longer exists
  (`ErrVMDoesNotExist`), so `pulumi refresh` drops it from the state (the engine's refresh does
  not look at `protect`), and the next `pulumi up` creates it. A VM on a host that does not
  answer is an error, not a deletion: the host must be back (or the node moved: README, "When a
  Proxmox host dies"). `vmDelete` of a VM that is already gone fails (`GetVMStatus`), so
  `--replace` of a missing VM is no way to recreate it.
- siderolabs/terraform-provider-talos v0.11.0: `ConfigurationApply` and `Bootstrap` do nothing
  on read (`Read` is empty) and on delete (without `on_destroy`); `Bootstrap` bootstraps once,
  when it is created, with an empty `BootstrapRequest`. So a recreated VM is configured only if
  its configuration apply is replaced (`--target-replace`), and the program never bootstraps an
  existing cluster again: a restore from a snapshot is `talosctl bootstrap --recover-from`, by
  hand, and a later `pulumi up` leaves it alone.
- The node's exit step (components/talos/lifecycle.py) is not replaced here: its delete would
  drain and reset whatever answers at the node's address (the new VM, in maintenance mode), and
  with no control plane up it fails (scripts.py, NODE_EXIT). Its work for a dead node (the Node
  object, the etcd member) is a step of its own.
"""

from __future__ import annotations

from offline.validators.gitops.platform import CSI_PROVISIONER

from ..facts import EXIT_USAGE, Facts, Node, RecoverError
from ..steps import Step, lines, not_in_state, pulumi_refresh, pulumi_up, q, talos, wait_until
from .common import VELERO, Options
from .velero_steps import newest_backup, pods_ready, restore_namespaces, schedule_name


def node_not_ready(node: str) -> str:
    return (
        f"! kubectl get node {node} "
        "-o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null "
        "| grep -qx True"
    )


def node_ready(node: str) -> str:
    return (
        f"kubectl get node {node} "
        "-o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null "
        "| grep -qx True"
    )


def chosen_node(facts: Facts, options: Options, role: str, scenario: str) -> tuple[Node, str]:
    candidates = facts.control_planes if role == "controlplane" else facts.workers
    what = "control plane" if role == "controlplane" else "worker"
    if not candidates:
        raise RecoverError(
            f"stack {facts.stack} has no {what}: {scenario} does not apply", EXIT_USAGE
        )
    if len(options.nodes) > 1:
        raise RecoverError(f"{scenario} is for one node: --node once", EXIT_USAGE)
    if options.nodes:
        node = facts.node(options.nodes[0])
        if node.role != role:
            raise RecoverError(f"{node.name} is no {what}: {scenario} is for a {what}", EXIT_USAGE)
        return node, f"node {node.name} ({node.ip}, VM on {node.host})"
    if options.run:
        raise RecoverError(f"{scenario} --run needs --node NAME (the lost {what})", EXIT_USAGE)
    node = candidates[-1] if role == "controlplane" and len(candidates) > 1 else candidates[0]
    return node, (
        f"node {node.name} ({node.ip}, VM on {node.host}): an example; --node NAME for the lost "
        f"{what}"
    )


def lost_since_file(node: Node) -> str:
    return f'"$RECOVER_DIR/lost-since-{node.name}"'


def confirm_gone(node: Node, endpoint: Node, record: bool = False) -> Step:
    """Make sure the node is gone; with `record`, note when Kubernetes last saw it Ready (its
    Ready condition's last transition), before its Node object is deleted: a volume backup
    started since may hold no data of its host (`velero_steps`)."""
    since = lost_since_file(node)
    ready = (
        f"kubectl get node {node.name} -o jsonpath="
        "'{range .status.conditions[?(@.type==\"Ready\")]}{.status} {.lastTransitionTime}{end}'"
    )
    remember = (
        lines(
            f"if [ ! -s {since} ]; then",
            f'  ready="$({ready} 2>/dev/null || true)"',
            '  case "$ready" in',
            f'    "False "*|"Unknown "*) echo "${{ready#* }}" > {since} ;;',
            "  esac",
            "fi",
            f'echo "{node.name} not Ready since: $(cat {since} 2>/dev/null || echo unknown)"',
        )
        if record
        else ""
    )
    return Step(
        title=f"Make sure {node.name} ({node.ip}) is really gone",
        run=lines(
            f"if timeout 30 {talos(node, 'version', endpoint=endpoint)} >/dev/null 2>&1; then",
            f'  echo "error: {node.name} answers the Talos API: it is not lost;'
            ' reboot or repair it instead" >&2',
            "  exit 1",
            "fi",
            f"kubectl get node {node.name} -o wide || true",
            remember,
        ),
        needs=("talosconfig", "kubeconfig", "talosctl", "kubectl"),
        check=node_not_ready(node.name),
        expect=f"{node.name} does not answer, and Kubernetes does not see it Ready"
        + (f" (since when: $RECOVER_DIR/lost-since-{node.name})" if record else ""),
        notes=(
            "The next steps take it out of Kubernetes (and etcd): never do that to a node that "
            "runs, it would come back as a stranger.",
            *(
                (
                    "When it stopped being Ready is kept (a later run keeps the first record): "
                    "the volume restore takes a backup started before then.",
                )
                if record
                else ()
            ),
        ),
    )


def volumes_on_host(facts: Facts, node: Node) -> Step:
    listing = f'"$RECOVER_DIR/namespaces-{node.host}"'
    return Step(
        title=f"List the namespaces whose volumes live on {node.host}",
        run=lines(
            "kubectl get pv -o jsonpath='{range .items[?(@.spec.csi.driver==\""
            + CSI_PROVISIONER
            + '")]}{.spec.csi.volumeHandle}{" "}{.spec.claimRef.namespace}{"\\n"}{end}\' \\',
            f'  | awk -v zone={node.host} \'split($1, id, "/") >= 2 && id[2] == zone '
            "{ print $2 }' \\",
            f"  | sort -u > {listing}",
            f'echo "namespaces with a volume on {node.host}:"; cat {listing}',
        ),
        needs=("kubeconfig", "kubectl"),
        check=f"test -f {listing}",
        expect=f"the list (possibly empty) in $RECOVER_DIR/namespaces-{node.host}",
        notes=(
            "A Proxmox CSI volume is a disk on one host's datastore: its ID is "
            "`<region>/<zone>/<storage>/<disk>`, the zone being the host "
            "(sergelogvinov/proxmox-csi-plugin v0.19.1 pkg/utils/volume/volume.go), and its pods "
            f"run only on a node of that host. If {node.host}'s datastore survived, these "
            "volumes come back with the node; if it was lost, so are they, and Velero's daily "
            "backup restores them.",
        ),
    )


def remove_node_object(node: Node) -> Step:
    return Step(
        title=f"Delete the Node object of {node.name}",
        run=f"kubectl delete node {node.name} --ignore-not-found --wait=false",
        needs=("kubeconfig", "kubectl"),
        check=f"! kubectl get node {node.name} >/dev/null 2>&1",
        expect=f"node {node.name} not found",
        notes=(
            "No drain: its kubelet is gone, so no eviction can finish. With the Node object "
            "gone, Kubernetes deletes its pods and their controllers start them elsewhere; the "
            "node's exit step does the same for a node that does not answer "
            "(components/talos/scripts.py, NODE_EXIT). Its successor registers under the same "
            "name.",
        ),
    )


def refresh_vms(facts: Facts, nodes: list[Node]) -> Step:
    hosts = sorted({n.host for n in nodes})
    images = [facts.images[h] for h in hosts if h in facts.images]
    urns = [*[n.vm for n in nodes], *images]
    names = ", ".join(n.name for n in nodes)
    return Step(
        title=f"Let Pulumi see that the VM{'s' if len(nodes) > 1 else ''} of {names} "
        + ("are" if len(nodes) > 1 else "is")
        + " gone",
        run=pulumi_refresh(facts.stack, urns),
        needs=("pulumi", "jq"),
        check=not_in_state(facts.stack, [n.vm for n in nodes]),
        expect=f"no VM of {names} left in the state (the refresh shows each `deleted`)",
        notes=(
            "bpg's provider drops a VM that does not exist (terraform-provider-proxmox "
            "`vmRead`), protected or not. If the refresh fails with the host unreachable (the "
            "API proxies to it: error 595), the host is not back: stop, and either bring it "
            "back or move the node (README, 'When a Proxmox host dies').",
            "The Talos image file of "
            + ", ".join(hosts)
            + " is refreshed too: a reinstalled host has lost it, and the VM's disk is imported "
            "from it.",
        ),
    )


def recreate_vms(facts: Facts, nodes: list[Node], check: str, expect: str) -> Step:
    hosts = sorted({n.host for n in nodes})
    images = [facts.images[h] for h in hosts if h in facts.images]
    return Step(
        title="Recreate the VM"
        + ("s" if len(nodes) > 1 else "")
        + " and apply "
        + ("their" if len(nodes) > 1 else "its")
        + " Talos configuration",
        run=pulumi_up(
            facts.stack, targets=[*images, *[n.vm for n in nodes]], replace=[n.apply for n in nodes]
        ),
        needs=("pulumi",),
        check=check,
        expect=expect,
        notes=(
            "The configuration apply is replaced on purpose: its provider does nothing on read "
            "(terraform-provider-talos v0.11.0 talos_machine_configuration_apply_resource.go), "
            "so without it a recreated VM would stay in maintenance mode, unconfigured. On a "
            "node in maintenance mode the apply installs Talos at once (Talos v1.13 "
            "v1alpha1_server.go, ApplyConfiguration), then the node reboots and joins with the "
            "stack's secrets. The exit step is left alone (module docstring).",
            "The preview shows each VM `create` and each configuration apply `replace`, and "
            "nothing else: stop if it shows more.",
        ),
    )


def volumes_back(facts: Facts, node: Node, options: Options) -> Step:
    listing = f'"$RECOVER_DIR/namespaces-{node.host}"'
    if options.volumes_lost:
        schedule = schedule_name(facts)
        since = lost_since_file(node)
        if options.backup:
            choose = f"backup={q(options.backup)}"
        else:
            choose = lines(
                f'since="$(cat {since} 2>/dev/null || true)"',
                f'[ -n "$since" ] || {{ echo "error: when {node.name} was lost is not known (step '
                "2 records it from its Node object): --backup NAME, a backup of "
                f'{schedule} started before the loss (listed by: {VELERO} backup get)" >&2; '
                "exit 1; }",
                newest_backup(schedule, '""', '"$since"'),
                f'[ -n "$backup" ] || {{ echo "error: no Completed backup of {schedule} started '
                f'before {node.name} was lost ($since)" >&2; exit 1; }}',
                f'echo "backup: $backup, the newest Completed one started before {node.name} was '
                'lost ($since)"',
            )
        return restore_namespaces(
            facts,
            keep_paused=False,
            listing=listing,
            choose=choose,
            check=lines(
                f"for ns in $(cat {listing}); do",
                wait_until(pods_ready('"$ns"'), 15, "the pods of $ns Ready"),
                "done",
            ),
            expect="every pod of those namespaces that runs Ready, on restored (or, for a "
            "namespace no backup holds, new) volumes",
            notes=(
                f"Which backup: a backup of {schedule} that ran after {node.name} was lost "
                "holds none of its host's volumes (their pods did not run, so Velero skipped "
                "them) and is Completed all the same: the newest one started before the node "
                "stopped being Ready (recorded in step 2) is taken for every namespace, or "
                "--backup NAME. Data written since that backup is lost (RPO 24 h).",
            ),
            zone=node.host,
        )
    return Step(
        title=f"Check that the volumes on {node.host} came back with the node",
        run=lines(
            "failed=",
            f"for ns in $(cat {listing}); do",
            "  if ! (",
            wait_until(pods_ready('"$ns"'), 10, "the pods of $ns Ready"),
            '  ); then failed="$failed $ns"; fi',
            "done",
            'if [ -n "$failed" ]; then',
            f"  echo \"error: pods of$failed are not Ready: if {node.host}'s datastore was lost, "
            "run this scenario again with --volumes-lost (or restore each: python -m "
            f"tools.recover --stack {facts.stack} --scenario namespace-deleted --namespace NS "
            '--run)" >&2',
            "  exit 1",
            "fi",
        ),
        needs=("kubeconfig", "kubectl", "jq"),
        check=f"test -f {listing}",
        expect="every pod of those namespaces that runs Ready (their volumes were still on the "
        "host)",
        notes=(
            "Nothing is restored by default: a restore replaces what the volumes hold with the "
            "last daily backup. Pass --volumes-lost when the host's datastore is gone.",
        ),
    )
