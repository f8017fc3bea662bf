"""What every scenario shares: the operator's choices (`Options`), the procedure a scenario
builds (`Procedure`), the namespaces of Argo CD and Velero, Argo CD's sync put on hold and given
back (`sync_hold`, `pause_patches`, `apps_paused`), and the last step of several: the wait for
Argo CD to sync and heal."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.backup.names import VELERO_NAMESPACE

from ..facts import Facts
from ..steps import Hold, Step, lines, pulumi_up, q, wait_until

ARGOCD_NAMESPACE = "argocd"

VELERO = f"velero -n {VELERO_NAMESPACE}"
"""How every velero command starts: the namespace named, never the CLI's default (its
config file, `velero client config set namespace=`, may name another)."""


@dataclass(frozen=True)
class Options:
    """The operator's choices; the defaults are printed with the steps."""

    nodes: tuple[str, ...] = ()
    namespace: str | None = None
    snapshot: str | None = None
    """An R2 object key, or `r2` for the newest in R2 (quorum-lost skips a live snapshot)."""
    backup: str | None = None
    """A Velero backup name (default: the newest Completed one that can hold the data: started
    before the namespace was recreated, the node lost, the etcd snapshot taken)."""
    volumes_lost: bool = False
    deleted_at: str | None = None
    """namespace-deleted: when the namespace was deleted (UTC, `2026-05-04T01:30:00Z`): the
    backup is one started before then (and before the namespace now there was created)."""
    workdir: str | None = None
    run: bool = False
    """The steps will be run: choices that have a default for reading must be explicit."""
    keep_paused: bool = False
    """namespace-deleted: leave Argo CD's sync on hold at the end (cluster-lost restores
    several namespaces, then gives it back once)."""


@dataclass
class Procedure:
    scenario: str
    summary: str
    choices: list[str] = field(default_factory=list)
    """The operator's choices and the defaults taken, one line each."""
    steps: list[Step] = field(default_factory=list)
    r2: bool = False
    """The steps use the bucket (credentials, AWS CLI variables, the age key)."""
    after: list[str] = field(default_factory=list)
    """What remains to do by hand once the steps are done."""


SYNC_HOLD = "argocd-sync"
PAUSED = "{.spec.syncPolicy.automated}"
"""jsonpath: an Application's automated sync policy (empty when it does not sync by itself)."""
PATCH = """--type merge -p '{"spec":{"syncPolicy":{"automated":null}}}'"""


def sync_hold(facts: Facts, chain: list[str]) -> Hold:
    """Argo CD's sync of `chain` (root first) on hold; `pulumi up` of the root gives it back:
    the refresh sees the hand edit, the update undoes it, and the root's self-heal sets its
    children's sync policy back from Git, and theirs."""
    return Hold(
        SYNC_HOLD,
        "Argo CD's sync of " + ", ".join(chain),
        pulumi_up(facts.stack, targets=[facts.root.urn], refresh=True),
    )


def pause_patches(chain: list[str]) -> str:
    """Shell: automated sync off on each Application of `chain`, in order (the root first: its
    self-heal would set the others back from Git)."""
    return lines(
        *[
            f"kubectl -n {ARGOCD_NAMESPACE} patch applications.argoproj.io {n} {PATCH}"
            for n in chain
        ]
    )


def apps_paused(names: list[str]) -> str:
    """Shell: none of `names` syncs by itself (checked in the cluster)."""
    wanted = " ".join(q(n) for n in names)
    return (
        f"kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io -o json | jq -e --args "
        "'[.items[] | select(.metadata.name | IN($ARGS.positional[])) "
        f"| select(.spec.syncPolicy.automated != null)] | length == 0' {wanted} >/dev/null"
    )


def root_syncing(facts: Facts) -> str:
    """Shell: the root Application syncs by itself again."""
    return (
        f'test -n "$(kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io '
        f"{facts.root.name} -o jsonpath='{PAUSED}')\""
    )


def argocd_synced(facts: Facts, names: list[str] | None = None) -> Step:
    select = (
        '[.items[] | select(.status.health.status != "Healthy" or .status.sync.status != "Synced")'
    )
    if names:
        wanted = " ".join(q(n) for n in names)
        query = (
            f"jq -e --args '{select} | select(.metadata.name | IN($ARGS.positional[]))] "
            f"| length == 0' {wanted}"
        )
    else:
        query = f"jq -e '{select}] | length == 0'"
    condition = f"kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io -o json | {query}"
    return Step(
        title="Wait for Argo CD to sync and heal "
        + (", ".join(names) if names else "every Application"),
        run=wait_until(f"{condition} >/dev/null", 30, "Applications Synced and Healthy", every=20),
        needs=("kubeconfig", "kubectl", "jq"),
        check=f"kubectl -n {ARGOCD_NAMESPACE} get applications.argoproj.io",
        expect="every Application listed Synced and Healthy",
        notes=(
            f"The root Application `{facts.root.name}` follows {facts.root.path} at "
            f"{facts.root.revision}; Argo CD resyncs from Git what is not in the snapshot.",
        ),
    )
