"""Values for the cilium Helm chart: Cilium as the cluster's CNI and kube-proxy replacement on
Talos.

The Talos-specific settings are the ones Talos runs its own Cilium end-to-end test with
(siderolabs/talos v1.13.9 `hack/test/e2e.sh`, `install_and_run_cilium_cni_tests`, the `strict`
install): Kubernetes IPAM, kube-proxy replacement, the agent's capabilities (Talos forbids
`SYS_MODULE`: the kernel modules are already loaded), cgroup v2 already mounted by Talos at
/sys/fs/cgroup, and the API server reached through KubePrism on localhost (the port the machine
config enables, `components/talos/documents.py` KUBEPRISM_PORT, handed in by the cluster). Every
key exists in the vendored chart's values.yaml; the offline plan checks that
(`helm_values.ignored_values`) and renders the release with the pinned Helm.
"""

from __future__ import annotations

from typing import Any

from ..kubernetes.objects import pod_security_labels

CHART_NAME = "cilium"
CHART_VERSION = "1.20.0"
"""Pinned here (the release's `version`), vendored at upstream/charts/cilium (same version)."""
CHART_REPO = "https://helm.cilium.io/"
NAMESPACE = "kube-system"
"""Talos exempts kube-system from its Pod Security admission defaults (`baseline` enforced
elsewhere), and Cilium's agent is privileged."""

CILIUM_TLS_NAMESPACE_LEVEL = "restricted"
"""`cilium-secrets` holds Secrets only (values.yaml `tls.secretsNamespace`)."""

AGENT_CAPABILITIES = [
    "CHOWN",
    "KILL",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "SYS_ADMIN",
    "SYS_RESOURCE",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
]
CLEAN_STATE_CAPABILITIES = ["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"]
OPERATOR_MAX_REPLICAS = 2
"""The chart's default; its operator pods repel each other per node (required anti-affinity on
`kubernetes.io/hostname`, values.yaml `operator.affinity`), so a smaller cluster gets fewer."""


def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def cilium_values(nodes: int, kubeprism_port: int) -> dict[str, Any]:
    """Values for a cluster of `nodes` nodes (all of them: the agent, Envoy and the operator
    tolerate the control-plane taint) whose KubePrism listens on `kubeprism_port`."""
    if nodes < 1:
        raise ValueError(f"a cluster has at least one node, got {nodes}")
    return {
        # The defaults of the release this was written for, not of whichever chart runs it
        # (values.yaml `upgradeCompatibility`): a chart upgrade changes no default unnoticed.
        "upgradeCompatibility": CHART_VERSION.rsplit(".", 1)[0],
        "ipam": {"mode": "kubernetes"},
        # The chart's `cilium-secrets` namespace (TLS secrets for Cilium's Envoy; no pods):
        # labelled like every namespace (docs/platform.md, "Pod Security").
        "secretsNamespaceLabels": pod_security_labels(CILIUM_TLS_NAMESPACE_LEVEL),
        "kubeProxyReplacement": True,
        "k8sServiceHost": "localhost",
        "k8sServicePort": kubeprism_port,
        "securityContext": {
            "capabilities": {
                "ciliumAgent": AGENT_CAPABILITIES,
                "cleanCiliumState": CLEAN_STATE_CAPABILITIES,
            }
        },
        "cgroup": {"autoMount": {"enabled": False}, "hostRoot": "/sys/fs/cgroup"},
        # `bpf.masquerade` stays off (the chart's default): with it, Talos' host DNS forwarding
        # (`forwardKubeDNSToHost`, on by default since Talos 1.8) breaks, siderolabs/docs
        # `deploying-cilium.mdx`, "Known issues".
        # A changed ConfigMap restarts the pods that read it, instead of waiting for a reboot.
        "rollOutCiliumPods": True,
        "resources": _resources("100m", "256Mi", "1Gi"),
        # The agent's init containers (config, mount-bpf-fs, apply-sysctl-overwrites,
        # clean-cilium-state) have none by default (values.yaml `initResources: {}`);
        # install-cni-binaries keeps its own (`cni.resources`, templates/cilium-agent/
        # daemonset.yaml). Each runs alone before the agent, so the requests add nothing to
        # what the node must have free.
        "initResources": _resources("10m", "32Mi", "256Mi"),
        # A tenth of the nodes at a time, rounded up (the chart's default is 2 nodes): the
        # rollout of a 150-node cluster fits the release's timeout (cilium.py).
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
        "envoy": {
            "rollOutPods": True,
            "resources": _resources("25m", "64Mi", "256Mi"),
            "prometheus": {"enabled": True},
        },
        # Metrics and their Services, not the chart's ServiceMonitors (their CRD arrives later,
        # with the monitoring add-on; gitops/platform/monitoring selects these Services).
        "prometheus": {"enabled": True, "metricsService": True},
        "operator": {
            "replicas": min(OPERATOR_MAX_REPLICAS, nodes),
            "prometheus": {"enabled": True, "metricsService": True},
            "rollOutPods": True,
            "resources": _resources("25m", "128Mi", "256Mi"),
        },
    }
