"""The cluster being filled: its nodes and the pods placed on each, with what they request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .nodes import Node
from .workloads import Pod


@dataclass(frozen=True)
class Reason:
    """Why a pod cannot go on one node.

    `constraint` is the same text for every node the same rule stops (messages group nodes by
    it); `detail` says what it is on this node ("" when the node name says it all); `advice` is
    the fix; `static` tells rules of the node alone (taints, selectors, cordon) from those that
    depend on what already runs (resources, pod (anti-)affinity, topology spread).
    """

    constraint: str
    detail: str
    advice: str
    static: bool


class Cluster:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.pods: dict[str, list[Pod]] = {n.name: [] for n in nodes}
        self.node_of: dict[Pod, str] = {}

    def copy(self) -> Cluster:
        other = Cluster(list(self.nodes.values()))
        other.pods = {name: list(pods) for name, pods in self.pods.items()}
        other.node_of = dict(self.node_of)
        return other

    def all_pods(self) -> Iterator[Pod]:
        for pods in self.pods.values():
            yield from pods

    def bind(self, pod: Pod, node: str) -> None:
        self.node_of[pod] = node
        self.pods[node].append(pod)

    def unbind(self, pod: Pod) -> None:
        self.pods[self.node_of.pop(pod)].remove(pod)

    def cordon(self, node: str) -> None:
        self.nodes[node] = self.nodes[node].cordoned()

    def requested(self, node: str) -> tuple[int, int, int]:
        """(millicores, bytes, pods) requested on `node`."""
        pods = self.pods[node]
        return (
            sum(p.workload.cpu for p in pods),
            sum(p.workload.memory for p in pods),
            len(pods),
        )
