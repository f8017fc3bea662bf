"""What Talos itself runs on the cluster's nodes, with the requests Talos v1.13.9 gives it
(the program overrides no `cluster.*.resources`; it turns off Talos' CNI and kube-proxy, so
neither Flannel nor kube-proxy runs: Cilium, a Helm release of the plan, replaces both).

- the control-plane static pods on each control plane (mirror pods: bound to their node, never
  evicted by a drain): kube-apiserver 200m/512Mi, kube-controller-manager 50m/256Mi,
  kube-scheduler 10m/64Mi (internal/app/machined/pkg/controllers/k8s/
  control_plane_static_pod.go:445, :631, :791);
- of the bootstrap manifests (internal/app/machined/pkg/controllers/k8s/manifest.go: Flannel
  only with `FlannelEnabled`, kube-proxy only with `ProxyEnabled`, CoreDNS always) the CoreDNS
  Deployment (internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/coredns.go),
  2 replicas of 100m/70Mi tolerating the control-plane
  taint, nodeSelector kubernetes.io/os: linux, strategy maxUnavailable 1 (coredns.go:232,
  :251, :277-285, :298-300; its anti-affinity is only preferred).
"""

from __future__ import annotations

from typing import Any

from ..disruption.objects import Placed
from .nodes import CONTROL_PLANE_LABEL, Node

SOURCE = "talos"
NAMESPACE = "kube-system"

STATIC_PODS = {
    "kube-apiserver": ("200m", "512Mi"),
    "kube-controller-manager": ("50m", "256Mi"),
    "kube-scheduler": ("10m", "64Mi"),
}
EVERY_TAINT = [
    {"effect": "NoSchedule", "operator": "Exists"},
    {"effect": "NoExecute", "operator": "Exists"},
]


def _container(name: str, cpu: str | None = None, memory: str | None = None) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"name": name, "image": name, "resources": {"requests": requests} if requests else {}}


def _workload(kind: str, name: str, app: str, spec: dict[str, Any], **extra: Any) -> Placed:
    labels = {"k8s-app": app}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
            **extra,
        },
    }
    return Placed(manifest, NAMESPACE, SOURCE)


def talos_objects(nodes: list[Node]) -> list[Placed]:
    objects = []
    for node in nodes:
        if node.role != "controlplane":
            continue
        for name, (cpu, memory) in STATIC_PODS.items():
            manifest = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{name}-{node.name}",
                    "namespace": NAMESPACE,
                    "labels": {"k8s-app": name},
                },
                "spec": {
                    "nodeName": node.name,
                    "containers": [_container(name, cpu, memory)],
                    "tolerations": [{"operator": "Exists"}],
                },
            }
            objects.append(Placed(manifest, NAMESPACE, SOURCE))
    coredns = {
        "containers": [_container("coredns", "100m", "70Mi")],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [
            {"effect": "NoSchedule", "key": CONTROL_PLANE_LABEL, "operator": "Exists"},
            {
                "effect": "NoSchedule",
                "key": "node.cloudprovider.kubernetes.io/uninitialized",
                "operator": "Exists",
            },
        ],
    }
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    objects.append(
        _workload("Deployment", "coredns", "kube-dns", coredns, replicas=2, strategy=strategy)
    )
    return objects
