"""What every scenario shares: the operator's choices (`Options`), the procedure a scenario
builds (`Procedure`), the namespaces of Argo CD and Velero, and the last step of several: the
wait for Argo CD to sync and heal."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..facts import Facts
from ..steps import Step, q, wait_until

ARGOCD_NAMESPACE = "argocd"
VELERO_NAMESPACE = "velero"


@dataclass(frozen=True)
class Options:
    """The operator's choices; the defaults are printed with the steps."""

    nodes: tuple[str, ...] = ()
    namespace: str | None = None
    snapshot: str | None = None
    """An R2 object key, or `r2` for the newest in R2 (quorum-lost skips a live snapshot)."""
    backup: str | None = None
    """A Velero backup name (default: the newest completed one that holds the namespace)."""
    volumes_lost: bool = False
    stamp: str = "0"
    """A time stamp (UTC, `%Y%m%d%H%M%S`) that makes the Velero restore's name unique."""
    workdir: str | None = None
    run: bool = False
    """The steps will be run: choices that have a default for reading must be explicit."""


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
