"""cloudflared in the cluster: the tunnel's connector, hardened, reading its token from a Secret.

`cloudflared_manifests()` returns the plain Kubernetes objects (validated offline in the tests);
`Cloudflared` registers them with the cluster's provider.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi

from .. import type_token
from ..kubernetes import Manifest, register

NAMESPACE = "cloudflared"
IMAGE = "docker.io/cloudflare/cloudflared"
#: The digest (the multi-arch index: what Renovate pins) of each release a stack may run, keyed
#: by `repository:tag`: a stack's `cloudflared_version` without an entry here runs by tag alone,
#: which the digest test refuses. Provenance: tests/gitops/test_image_digests.py.
IMAGE_DIGESTS = {
    "docker.io/cloudflare/cloudflared:2026.10.0": (
        "sha256:9b49eed8f62806d5d45ddf59ecefb5710429598ea6d3fcccd2af938f621b2b07"
    ),
}
METRICS_PORT = 2000
TOKEN_SECRET = "cloudflared-token"
LABELS = {"app.kubernetes.io/name": "cloudflared", "app.kubernetes.io/part-of": "talos-platform"}
NONROOT_UID = 65532


def _meta(name: str, namespace: str | None = NAMESPACE) -> dict:
    meta: dict = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def namespace_manifest() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                **LABELS,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


TOKEN_ANNOTATION = "talos-platform.dev/token-sha256"
"""On the pod template: a digest of the connector token. cloudflared reads its token once, at
start, from an environment variable; a rotated tunnel secret changes the token but not the
tunnel id (the secret is updated in place, cloudflare/terraform-provider-cloudflare
`internal/services/zero_trust_tunnel_cloudflared/schema.go`), so only a change of the token
itself can roll the pods onto it."""


def token_digest(token: str) -> str:
    """The first 16 hex digits of the token's SHA-256: it changes whenever the token does, and
    tells nothing about a token that carries 32 random bytes."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def image_reference(version: str) -> str:
    """`IMAGE:version@sha256:...`, or `IMAGE:version` for a release IMAGE_DIGESTS lacks."""
    image = f"{IMAGE}:{version}"
    digest = IMAGE_DIGESTS.get(image)
    return f"{image}@{digest}" if digest else image


def deployment_manifest(version: str, replicas: int, token_sha256: object = "") -> Manifest:
    container = {
        "name": "cloudflared",
        "image": image_reference(version),
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "tunnel",
            "--no-autoupdate",
            "--metrics",
            f"0.0.0.0:{METRICS_PORT}",
            "run",
        ],
        "env": [
            {
                "name": "TUNNEL_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "token"}},
            }
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": METRICS_PORT},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/ready", "port": METRICS_PORT},
            "initialDelaySeconds": 20,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NONROOT_UID,
            "runAsGroup": NONROOT_UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    selector = {"app.kubernetes.io/name": "cloudflared"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("cloudflared"),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": dict(LABELS),
                    "annotations": {TOKEN_ANNOTATION: token_sha256},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # `nodeTaintsPolicy: Honor`: a node whose taint the pod does not tolerate
                    # (a Talos control plane) is no domain of the spread. Left at its default
                    # (Ignore), such a node counts as a domain with 0 pods and blocks a second
                    # replica on the only worker, and every surge pod (Kubernetes
                    # `pkg/scheduler/framework/plugins/podtopologyspread/common.go`).
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "nodeTaintsPolicy": "Honor",
                            "nodeAffinityPolicy": "Honor",
                            "labelSelector": {"matchLabels": selector},
                        },
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "nodeTaintsPolicy": "Honor",
                            "nodeAffinityPolicy": "Honor",
                            "labelSelector": {"matchLabels": selector},
                        },
                    ],
                    "containers": [container],
                },
            },
        },
    }


def pdb_manifest() -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta("cloudflared"),
        "spec": {
            "minAvailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "cloudflared"}},
        },
    }


def metrics_service_manifest() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            **_meta("cloudflared-metrics"),
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(METRICS_PORT),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": "cloudflared"},
            "ports": [
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


def cloudflared_manifests(version: str, replicas: int, token_sha256: object = "") -> list[Manifest]:
    """Every object of the connector except the token Secret, in creation order."""
    return [
        namespace_manifest(),
        deployment_manifest(version, replicas, token_sha256),
        pdb_manifest(),
        metrics_service_manifest(),
    ]


@dataclass(frozen=True)
class CloudflaredArgs:
    version: str
    replicas: int
    token: pulumi.Output[str]
    k8s_provider: pulumi.ProviderResource
    schedulable_nodes: int = 2
    """How many nodes run workloads. With one, no disruption budget: draining that node for an
    upgrade must evict every replica (there is nowhere else to go), and a budget would hold the
    drain until `talosctl upgrade --drain-timeout` fails it."""


class Cloudflared(pulumi.ComponentResource):
    """The connector Deployment with its token Secret, disruption budget and metrics Service."""

    def __init__(
        self, name: str, args: CloudflaredArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("cloudflare", "Cloudflared"), name, {}, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        # The digest is no secret (a one-way hash of 32 random bytes and public ids), so the
        # Deployment's diff stays readable in a preview.
        digest = pulumi.Output.unsecret(pulumi.Output.from_input(args.token).apply(token_digest))
        namespace, deployment, pdb, service = cloudflared_manifests(
            args.version, args.replicas, digest
        )
        ns = register(f"{name}-namespace", namespace, in_cluster)
        in_namespace = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[ns])
        )
        token_secret = register(
            f"{name}-token",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta(TOKEN_SECRET),
                "type": "Opaque",
                "stringData": {"token": pulumi.Output.secret(args.token)},
            },
            in_namespace,
        )
        with_token = pulumi.ResourceOptions.merge(
            in_namespace, pulumi.ResourceOptions(depends_on=[token_secret])
        )
        self.deployment = register(f"{name}-deployment", deployment, with_token)
        if args.schedulable_nodes > 1:
            register(f"{name}-pdb", pdb, in_namespace)
        register(f"{name}-metrics", service, in_namespace)
        self.register_outputs({"namespace": NAMESPACE, "replicas": args.replicas})
