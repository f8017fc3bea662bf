"""The scenario control-plane-lost: one control plane is gone and the others keep etcd
quorum. Remove its etcd member and Node, recreate it, check that it rejoined."""

from __future__ import annotations

from ..facts import EXIT_USAGE, Facts, Node, RecoverError
from ..steps import Step, credentials, lines, talos, wait_until
from .common import Options, Procedure
from .etcd_steps import etcd_healthy
from .node_steps import (
    chosen_node,
    confirm_gone,
    node_ready,
    recreate_vms,
    refresh_vms,
    remove_node_object,
    volumes_back,
    volumes_on_host,
)


def _survivor_endpoint(survivors: list[Node]) -> str:
    """Shell setting $EP to the first of `survivors` that answers."""
    ips = " ".join(n.ip for n in survivors)
    return lines(
        "EP=",
        f"for ip in {ips}; do",
        '  if timeout 30 talosctl -e "$ip" -n "$ip" version >/dev/null 2>&1; then'
        ' EP="$ip"; break; fi',
        "done",
        '[ -n "$EP" ] || { echo "error: no other control plane answers" >&2; exit 1; }',
    )


def control_plane_lost(facts: Facts, options: Options) -> Procedure:
    if len(facts.control_planes) < 3:
        raise RecoverError(
            f"stack {facts.stack} has {len(facts.control_planes)} control plane(s): losing one "
            "loses etcd quorum; use the scenario quorum-lost",
            EXIT_USAGE,
        )
    node, choice = chosen_node(facts, options, "controlplane", "control-plane-lost")
    survivors = [n for n in facts.control_planes if n != node]
    find = _survivor_endpoint(survivors)
    in_members = (
        f'talosctl -e "$EP" -n "$EP" etcd members | awk \'NR > 1 {{ print $3 }}\' '
        f"| grep -qx {node.name}"
    )
    procedure = Procedure(
        "control-plane-lost",
        f"the VM of control plane {node.name} is gone; the other {len(survivors)} keep etcd quorum",
        choices=[choice],
    )
    quorum = Step(
        title="Check that the other control planes keep etcd quorum",
        run=lines(
            # Through a control plane that answers (-e): without it talosctl would use the
            # talosconfig's endpoints, the dead node's among them.
            find,
            f'talosctl -e "$EP" -n {",".join(n.ip for n in survivors)} etcd status',
            'talosctl -e "$EP" -n "$EP" etcd members',
        ),
        needs=("talosconfig", "kubeconfig", "talosctl", "kubectl"),
        check=lines(*[etcd_healthy(n) for n in survivors], "kubectl get --raw=/readyz"),
        expect="etcd healthy on "
        + " and ".join(n.name for n in survivors)
        + "; the API server answers ok",
        notes=("If not, quorum is lost: use the scenario quorum-lost instead.",),
    )
    remove = Step(
        title=f"Remove {node.name} from etcd",
        run=lines(
            find,
            'members="$(talosctl -e "$EP" -n "$EP" etcd members)"',
            "printf '%s\\n' \"$members\"",
            'member="$(printf \'%s\\n\' "$members" '
            f"| awk -v host={node.name} 'NR > 1 && $3 == host {{ print $2 }}')\"",
            'if [ -n "$member" ]; then',
            '  talosctl -e "$EP" -n "$EP" etcd remove-member "$member"',
            "else",
            f'  echo "{node.name} is no etcd member: nothing to remove"',
            "fi",
        ),
        needs=("talosconfig", "talosctl"),
        check=lines(find, f"! {in_members}"),
        expect=f"`talosctl etcd members` no longer lists {node.name}: "
        f"{len(survivors)} members, quorum {len(survivors) // 2 + 1}",
        notes=(
            "`talosctl etcd remove-member <ID>` is for a member that cannot leave by itself "
            "(Talos v1.13 CLI reference). Its successor joins as a new member under the same "
            "name: the dead one goes first, or etcd would hold 4 members, quorum 3, one dead. "
            f"Until {node.name} is back, etcd has {len(survivors)} members and quorum "
            f"{len(survivors) // 2 + 1}: it survives {len(survivors) - len(survivors) // 2 - 1} "
            "more loss(es).",
        ),
        destructive=True,
    )
    rejoined = lines(
        wait_until(etcd_healthy(node), 25, f"etcd healthy on {node.name}"),
        wait_until(node_ready(node.name), 10, f"{node.name} Ready"),
    )
    health = Step(
        title="Check the cluster's health",
        run=talos(survivors[0], "health", "--wait-timeout", "15m"),
        needs=("talosconfig", "kubeconfig", "talosctl", "kubectl"),
        check=lines(find, in_members, "kubectl wait --for=condition=Ready node --all --timeout=5m"),
        expect=f"{node.name} an etcd member again; every node Ready",
        notes=(
            "A node that died without a reset stays in Talos's discovery service up to 30 "
            "minutes: `talosctl health` may count the old one until then.",
        ),
    )
    procedure.steps = [
        credentials(facts, r2=False),
        confirm_gone(node, survivors[0], record=options.volumes_lost and not options.backup),
        quorum,
        remove,
        remove_node_object(node),
        volumes_on_host(facts, node),
        refresh_vms(facts, [node]),
        recreate_vms(
            facts,
            [node],
            rejoined,
            f"etcd healthy on {node.name} (it joined as a new member), and {node.name} Ready",
        ),
        health,
        volumes_back(facts, node, options),
    ]
    return procedure
