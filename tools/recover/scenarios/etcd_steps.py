"""The steps of a restore of etcd from a snapshot (quorum-lost, cluster-lost): the snapshot
(live, or from R2 and decrypted), the bootstrap from it, the other members joining, every
node Ready, the full `pulumi up --refresh`; and the shell tests of etcd's state.

Talos v1.13 (siderolabs/docs `talos/v1.13/.../disaster-recovery.mdx`, talosctl
`cmd/talosctl/cmd/talos/{bootstrap,etcd}.go` at v1.13.9): a snapshot is `talosctl etcd snapshot`
from a healthy member, or a copy of `/var/lib/etcd/member/snap/db` (then `bootstrap
--recover-skip-hash-check`, and only then); every control plane's EPHEMERAL is wiped
(`reset --graceful=false --reboot --system-labels-to-wipe=EPHEMERAL`) until etcd is `Preparing`
everywhere; `talosctl bootstrap --recover-from=<file>` on one; the others join.
"""

from __future__ import annotations

from ..facts import Facts, Node
from ..steps import (
    SNAPSHOT_CHECK,
    SNAPSHOT_EXPECT,
    Step,
    command,
    lines,
    q,
    snapshot_from_r2,
    talos,
    wait_until,
)
from .common import Options

SNAPSHOT_TIME = '"$RECOVER_DIR/snapshot-time"'


def etcd_state(nodes: list[Node], state: str) -> str:
    """Shell: etcd is in `state` on every one of `nodes`, each asked directly (`-e`: the
    talosconfig's endpoints may include a node that is down or rebooting)."""
    ips = " ".join(n.ip for n in nodes)
    return (
        f'{{ for ip in {ips}; do talosctl -e "$ip" -n "$ip" service 2>/dev/null || true; done; }} '
        f'| awk \'$2 == "etcd" {{ n++; if ($3 != "{state}") bad = 1 }} '
        f"END {{ exit bad || n != {len(nodes)} }}'"
    )


def etcd_healthy(node: Node) -> str:
    return (
        f"{talos(node, 'get', 'service', 'etcd', '-o', q('jsonpath={.spec.healthy}'))} 2>/dev/null "
        "| grep -qx true"
    )


def snapshot_choice(options: Options, live: bool) -> str:
    if options.snapshot and options.snapshot != "r2":
        return f"{options.snapshot} (given)"
    if options.snapshot == "r2" or not live:
        return "the newest in R2 (default; --snapshot KEY for another)"
    return "a live one from a surviving member, else the newest in R2 (default; --snapshot r2|KEY)"


def snapshot_step(
    facts: Facts, options: Options, live_from: list[Node], record_time: bool = False
) -> Step:
    """The snapshot, live from one of `live_from` or from R2; with `record_time` (from R2 only)
    its time too, in $RECOVER_DIR/snapshot-time."""
    backup = facts.require_backup("a restore from a snapshot")
    key = None if options.snapshot in (None, "r2") else options.snapshot
    from_r2 = snapshot_from_r2(backup, key, record_time=record_time)
    needs: tuple[str, ...] = ("talosconfig", "r2", "age-key", "talosctl", "aws", "age")
    if record_time:
        needs += ("jq",)
    notes = [
        f"The hourly (prod) snapshots are `s3://{backup.bucket}/{backup.snapshot_prefix}"
        "<RFC 3339 time>.snap.age`, encrypted to the stack's age public key "
        f"(`backup.age_recipient`); the endpoint is {backup.s3_endpoint}, region auto. The "
        "bucket's lifecycle rule deletes them after `backup.etcd_retention_days` days.",
    ]
    if live_from and options.snapshot is None:
        ips = " ".join(n.ip for n in live_from)
        run = lines(
            'rm -f "$RECOVER_DIR/db.snapshot"',
            f"for ip in {ips}; do",
            '  if timeout 120 talosctl -e "$ip" -n "$ip" etcd snapshot "$RECOVER_DIR/db.snapshot";'
            " then",
            '    echo "live snapshot of $ip" > "$RECOVER_DIR/snapshot-source"; exit 0',
            "  fi",
            "done",
            'echo "no control plane gave a snapshot: the newest from R2 instead"',
            from_r2,
        )
        title = "Get the newest etcd snapshot: from a surviving member, else from R2"
        notes.insert(
            0,
            "Decision, defaulting to the newest data: a snapshot streamed from a member that "
            "still runs etcd (Talos: it may fail without quorum) holds everything up to the "
            "loss; else the newest encrypted snapshot from R2 (up to an hour old in prod). "
            "`--snapshot r2` takes R2's newest, `--snapshot <key>` a given object. A member that "
            "was cut off for long may be older than R2's: compare `talosctl etcd status` "
            "(RAFT INDEX) first if in doubt.",
        )
        notes.append(
            "Last resort, when neither works: `talosctl -e <ip> -n <ip> cp "
            "/var/lib/etcd/member/snap/db $RECOVER_DIR/db.snapshot` (possibly inconsistent); "
            "only then add "
            "--recover-skip-hash-check to the bootstrap step.",
        )
    else:
        run = from_r2
        title = (
            f"Download and decrypt the etcd snapshot {key}"
            if key
            else "Download and decrypt the newest etcd snapshot from R2"
        )
        if not key:
            notes.insert(
                0,
                "Decision, defaulting to the newest: the newest object by upload time is taken "
                "and printed; `--snapshot <key>` takes another (`aws s3 ls` lists them).",
            )
    if record_time:
        notes.append(
            "Its time, from its key (talos-backup names it by the time it was taken), is kept in "
            "$RECOVER_DIR/snapshot-time: the volume restore takes a backup started before it."
        )
    return Step(
        title=title,
        run=run,
        needs=needs,
        check=SNAPSHOT_CHECK + (f" && test -s {SNAPSHOT_TIME}" if record_time else ""),
        expect=SNAPSHOT_EXPECT
        + ("; its time in $RECOVER_DIR/snapshot-time" if record_time else ""),
        notes=tuple(notes),
    )


def bootstrap_recover(facts: Facts) -> Step:
    node = facts.bootstrap
    return Step(
        title=f"Bootstrap etcd on {node.name} from the snapshot",
        run=talos(node, "bootstrap", '--recover-from="$RECOVER_DIR/db.snapshot"'),
        needs=("talosconfig", "talosctl"),
        check=wait_until(etcd_healthy(node), 10, f"etcd healthy on {node.name}"),
        expect=f"etcd healthy on {node.name} ({node.ip}); talosctl printed the snapshot's hash, "
        "revision and keys",
        notes=(
            f"{node.name} is the control plane the program bootstraps (its Bootstrap resource); "
            "any control plane would do. The snapshot carries its hash: no "
            "--recover-skip-hash-check, which is for a database file copied out of "
            "/var/lib/etcd (Talos v1.13 disaster-recovery guide).",
            "The program's Bootstrap resource stays in the state and never runs again "
            "(terraform-provider-talos v0.11.0 talos_machine_bootstrap_resource.go: it "
            "bootstraps on create only, `Read` and `Update` touch no node). Never `pulumi state "
            "delete` it: a later `pulumi up` would bootstrap an empty etcd, and this step would "
            "then fail (etcd is already bootstrapped): wipe EPHEMERAL again and repeat it.",
        ),
    )


def members_rejoin(facts: Facts) -> Step:
    node = facts.bootstrap
    count = len(facts.control_planes)
    members = f"{talos(node, 'etcd', 'members')} 2>/dev/null | awk 'NR > 1' | wc -l"
    return Step(
        title="Wait for the other control planes to join etcd and the API server to answer",
        run=wait_until(
            f'[ "$({members})" -eq {count} ] && kubectl get --raw=/readyz >/dev/null 2>&1',
            20,
            f"{count} etcd members and the API server ready",
        ),
        needs=("talosconfig", "kubeconfig", "talosctl", "kubectl"),
        check=lines(
            talos(node, "etcd", "members"),
            f'[ "$({members})" -eq {count} ]',
            *[etcd_healthy(n) for n in facts.control_planes],
        ),
        expect=f"{count} etcd members ("
        + ", ".join(n.name for n in facts.control_planes)
        + "), each healthy; kubectl get --raw=/readyz answers ok",
        notes=(
            "They join by themselves once the control-plane endpoint "
            f"({facts.endpoint}) answers (Talos v1.13 disaster-recovery guide).",
        ),
    )


def nodes_ready(facts: Facts) -> Step:
    node = facts.bootstrap
    return Step(
        title="Wait for every node to be Ready",
        run="kubectl wait --for=condition=Ready node --all --timeout=30m",
        needs=("talosconfig", "kubeconfig", "talosctl", "kubectl"),
        check=lines(
            "kubectl get nodes -o wide",
            "kubectl -n kube-system rollout status daemonset/cilium --timeout=10m",
            "kubectl -n kube-system rollout status deployment/coredns --timeout=10m",
            talos(node, "health", "--wait-timeout", "10m"),
        ),
        expect=", ".join(n.name for n in facts.nodes)
        + " Ready; Cilium and CoreDNS rolled out; talosctl health passes",
        notes=(
            "Cilium comes back from etcd (its DaemonSet is in the snapshot): nodes are NotReady "
            "until it runs on them. A node that died without a reset stays in Talos's discovery "
            "service up to 30 minutes, and `talosctl health` counts it until then.",
        ),
    )


def pulumi_reconcile(facts: Facts, exclude: tuple[str, ...] = ()) -> Step:
    """The full `pulumi up --refresh`; `exclude` (URNs) are left as they are (`--exclude`,
    pulumi 3.158 and later)."""
    check = ["pulumi", "preview", "--stack", facts.stack, "--expect-no-changes"]
    for urn in exclude:
        check += ["--exclude", q(urn)]
    notes = [
        "The refresh reads what the restored etcd holds; the update puts back what changed "
        "since the snapshot (a rotated Secret, the Cilium or Argo CD release). The Bootstrap "
        "resource is not run again (the step before). Read the preview: it must not "
        "replace the machine secrets or a VM.",
    ]
    if facts.root.urn in exclude:
        notes.append(
            f"All but the root Application {facts.root.name} (`--exclude`): its update would "
            "give it its sync policy back, and Argo CD's sync stays on hold until the volumes "
            "are restored; a later step gives it back with `pulumi up --target` of the root."
        )
    return Step(
        title="Reconcile everything the program manages with a full `pulumi up --refresh`"
        + (" (but the root Application)" if facts.root.urn in exclude else ""),
        run=command(
            ["pulumi", "up", "--stack", facts.stack, "--refresh"]
            + [w for urn in exclude for w in ("--exclude", q(urn))]
        ),
        needs=("pulumi",),
        check=command(check),
        expect="`pulumi preview --expect-no-changes` passes (no drift left)",
        notes=tuple(notes),
    )
