"""Every PodDisruptionBudget the platform ships must let a node drain.

`talosctl upgrade` (Talos 1.13) cordons and drains the node with the kubectl drain library: pods
go through the Eviction API, which honours PodDisruptionBudgets, and after `--drain-timeout`
(10m, components/talos/scripts.py) the upgrade fails and leaves the node cordoned. A budget that
allows no disruption for the replica count of its workload blocks every upgrade of every node
that runs one of its pods. So each budget, in each environment, must allow at least one.

Three places ship budgets, each checked against the workloads of the same place:

- the program itself (plan resources `kubernetes:policy/v1:PodDisruptionBudget`, cloudflared's),
  matched by selector to the plan's Deployments and StatefulSets in the same namespace;
- the argo-cd Helm release: `<component>.pdb` of its values against that component's replicas
  (`redis-ha.podDisruptionBudget` and `redis-ha.haproxy.podDisruptionBudget` when set);
- the GitOps tree the stack's root Application follows (`gitops/envs/<env>` and the folders its
  Applications follow), matched by selector to its Deployments and StatefulSets; an object
  without a namespace is in its Application's destination namespace, and a workload an
  HorizontalPodAutoscaler scales counts its `minReplicas`.

Allowed disruptions are computed as the disruption controller does with every pod healthy:
`replicas - minAvailable`, or `maxUnavailable`, percentages rounded up.
"""

from .objects import WORKLOAD_KINDS, Placed, kubernetes_budgets, selector_matches
from .rule import (
    WHY,
    Budget,
    NotUnderstoodError,
    Report,
    allowed_disruptions,
    judge,
    parse_amount,
)
from .sources import (
    ARGOCD_COMPONENTS,
    PDB_TYPE,
    REDIS_HA_DEFAULT_REPLICAS,
    RELEASE_TYPE,
    disruption_problems,
    evaluate,
    gitops_budgets,
    plan_budgets,
    release_budgets,
    stack_environment,
)

__all__ = [
    "ARGOCD_COMPONENTS",
    "PDB_TYPE",
    "REDIS_HA_DEFAULT_REPLICAS",
    "RELEASE_TYPE",
    "WHY",
    "WORKLOAD_KINDS",
    "Budget",
    "NotUnderstoodError",
    "Placed",
    "Report",
    "allowed_disruptions",
    "disruption_problems",
    "evaluate",
    "gitops_budgets",
    "judge",
    "kubernetes_budgets",
    "parse_amount",
    "plan_budgets",
    "release_budgets",
    "selector_matches",
    "stack_environment",
]
