"""Cilium, the cluster's network: installed between the Talos API gate (the API server answers,
nodes wait for a CNI) and the health gate (every node Ready), so nothing else in the cluster is
created before the network is up. docs/platform.md says why a Helm release and not Talos inline
manifests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import type_token
from .values import CHART_NAME, CHART_REPO, CHART_VERSION, NAMESPACE, cilium_values


@dataclass(frozen=True)
class CiliumArgs:
    kubeconfig: pulumi.Output[str]
    """The admin kubeconfig, available once the API server answers (not once nodes are Ready:
    they become Ready through this release)."""
    cluster_identifier: str
    nodes: int
    kubeprism_port: int
    """Where each node's KubePrism serves the API server on localhost (the Talos config's)."""


RELEASE_TIMEOUT = 1800
"""Seconds Helm waits for the agents, Envoy and the operator to roll out: ten batches of a
tenth of the nodes (values.py), three minutes each."""


class Cilium(pulumi.ComponentResource):
    """The cilium chart (pinned, atomic) on a provider of its own, built from the kubeconfig that
    the API gate releases; the rest of the cluster waits for this release."""

    provider: k8s.Provider
    release: k8s.helm.v3.Release
    revision: str
    """The chart version and a digest of the values: what the health gate re-checks on."""

    def __init__(
        self, name: str, args: CiliumArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("network", "Cilium"), name, {}, opts)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=pulumi.Output.secret(args.kubeconfig),
            # As the cluster's main provider (components/kubernetes/provider.py): a renewed
            # kubeconfig must not replace the release (pulumi-kubernetes #4019, #2745).
            cluster_identifier=args.cluster_identifier,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        values = cilium_values(args.nodes, args.kubeprism_port)
        digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
        self.revision = f"{CHART_VERSION} {digest}"
        self.release = k8s.helm.v3.Release(
            name,
            name="cilium",
            chart=CHART_NAME,
            version=CHART_VERSION,
            repository_opts={"repo": CHART_REPO},
            namespace=NAMESPACE,
            # Not atomic: a rollback is a second rollout of every node's datapath, and a failed
            # first install would uninstall the CNI. A failed release stays, and the next
            # `pulumi up` fixes forward.
            atomic=False,
            # Helm waits until every agent is updated (values.py: a tenth of the nodes at a
            # time). Fixed, so adding a node changes nothing here.
            timeout=RELEASE_TIMEOUT,
            max_history=10,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.register_outputs({"chart_version": CHART_VERSION, "namespace": NAMESPACE})
