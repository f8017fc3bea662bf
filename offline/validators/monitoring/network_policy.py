"""Whether the NetworkPolicies of a cluster let one pod open a connection to another's port, as
networking.k8s.io/v1 defines them (kubernetes.io/docs/concepts/services-networking/
network-policies): a pod selected by no policy of a direction is open in that direction; once
selected, only what one of the selecting policies admits gets through; the source's egress and
the target's ingress must both admit the connection. Pods on the host's network are outside of
NetworkPolicy. `ipBlock` peers are not evaluated (pod addresses are not fixed): they admit
nothing here. Named ports are resolved against the target pod's container ports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from offline.validators.disruption.objects import selector_matches

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod, as the policies see it: its namespace, labels and container ports."""

    namespace: str
    labels: dict[str, str]
    ports: tuple[dict[str, Any], ...] = ()
    host_network: bool = False
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def namespace_label_set(self) -> dict[str, str]:
        """The namespace's labels, with the one the API server always sets."""
        return {**self.namespace_labels, NAMESPACE_NAME_LABEL: self.namespace}


def _selects(policy: dict[str, Any], pod: Endpoint, direction: str) -> bool:
    metadata = policy.get("metadata") or {}
    spec = policy.get("spec") or {}
    if metadata.get("namespace") != pod.namespace:
        return False
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
    return direction in types and selector_matches(spec.get("podSelector") or {}, pod.labels)


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"] or {}, other.namespace_label_set()):
            return False
    elif other.namespace != policy_namespace:
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"] or {}, other.labels)
    return True


def _port_matches(
    entries: list[dict[str, Any]] | None, port: int, protocol: str, target: Endpoint
) -> bool:
    if not entries:
        return True
    names = {p.get("name") for p in target.ports if p.get("containerPort") == port}
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port or (isinstance(wanted, str) and wanted in names):
            return True
        end = entry.get("endPort")
        if isinstance(wanted, int) and isinstance(end, int) and wanted <= port <= end:
            return True
    return False


def _direction_admits(
    policies: list[dict[str, Any]],
    subject: Endpoint,
    other: Endpoint,
    direction: str,
    port: int,
    protocol: str,
    target: Endpoint,
) -> bool:
    if subject.host_network:
        return True
    selecting = [p for p in policies if _selects(p, subject, direction)]
    if not selecting:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(peer, namespace, other) for peer in peers):
                continue
            if _port_matches(rule.get("ports"), port, protocol, target):
                return True
    return False


def admits(
    policies: Iterable[dict[str, Any]],
    source: Endpoint,
    target: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may open a connection to `target`'s `port` (the container port)."""
    network_policies = [p for p in policies if p.get("kind") == "NetworkPolicy"]
    return _direction_admits(
        network_policies, source, target, "Egress", port, protocol, target
    ) and _direction_admits(network_policies, target, source, "Ingress", port, protocol, target)


def ingress_selected(policies: Iterable[dict[str, Any]], pod: Endpoint) -> bool:
    """Whether some NetworkPolicy selects the pod for ingress (so it is closed by default)."""
    return any(_selects(p, pod, "Ingress") for p in policies if p.get("kind") == "NetworkPolicy")
