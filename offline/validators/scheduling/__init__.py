"""Scheduling and capacity: can the stack's nodes run everything the plan makes them run, roll
every Deployment and drain every node for an upgrade?

From the plan alone: the nodes (nodes.py: labels, taints, allocatable from the VM size less
what Talos and the kubelet reserve), the workloads (sources.py: the program's own objects,
the GitOps environment, the Helm releases, what Talos runs itself; workloads.py: pods and their
requests, one run's for a Job or a CronJob), a greedy scheduler with kube-scheduler's filters
(scheduler.py, filters.py, spread.py), then every rolling update (rollout.py) and every drain
(drain.py: a Job's pod is evicted and not placed again).

The GitOps environment includes pods that operators create at run time from the tree's
resources, rendered beside them: the Prometheus Operator's StatefulSets of each Prometheus and
Alertmanager (gitops/operator.py), and from each Velero Schedule one data-mover pod per
backed-up volume and one kopia maintenance Job pod per backed-up namespace
(gitops/velero_pods.py), placed as Jobs. Velero binds each data mover to the node of the pod
whose volume it copies (`nodeName`): the model requires that pod's node (a podAffinity on its
labels per hostname), so a data mover that does not fit there fails the plan.

Not modelled: preferred (anti-)affinity and ScheduleAnyway spreads (scoring only), priority and
preemption, ephemeral storage, volumes and their zones (except in a drain, which keeps a pod on
a zone-local volume in its zone: drain.py), host ports, the overlapping runs a CronJob with
concurrencyPolicy Allow may have (one run is placed), HPA scale-up beyond minReplicas, the
kernel's share of the VM's memory, the data movers of a Velero restore (an operator's action),
other pods operators or controllers create at run time.
"""

from .cluster import Cluster, Reason
from .nodes import Node, Taint, plan_nodes
from .report import Report, evaluate, node_table, scheduling_problems, table
from .scheduler import Failure, explain, place, schedule
from .workloads import Pod, Workload, pod_requests, workloads_of

__all__ = [
    "Cluster",
    "Failure",
    "Node",
    "Pod",
    "Reason",
    "Report",
    "Taint",
    "Workload",
    "evaluate",
    "explain",
    "node_table",
    "place",
    "plan_nodes",
    "pod_requests",
    "schedule",
    "scheduling_problems",
    "table",
    "workloads_of",
]
