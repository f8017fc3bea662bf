"""Create typed Kubernetes resources from plain manifests.

Manifests are built as plain dicts (camelCase, exactly what the API server gets) so the same object
is validated offline with `kubernetes-validate` and registered with the right typed resource class.
Typed classes, not `yaml.v2`, so a first `pulumi preview` works while the cluster does not exist yet
(pulumi/pulumi #16331, pulumi-kubernetes #3027).
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

Manifest = dict[str, Any]

_CLASSES: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}
_PATCH_CLASSES: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.NamespacePatch,
}
"""Server-side apply patches of objects the program does not create (`patch`)."""

#: What the Pod Security admission reads on a namespace (`pod-security.kubernetes.io/*`).
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")


def secret_manifest(
    name: str, namespace: str, labels: dict[str, str], string_data: dict[str, Any]
) -> Manifest:
    """An Opaque Secret; wrap secret values in `pulumi.Output.secret` before they come here."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": string_data,
    }


def pod_security_labels(level: str) -> dict[str, str]:
    """The labels a namespace enforces `level` of the Pod Security Standards with, against the
    cluster's Kubernetes version's definition of it (`latest`)."""
    if level not in POD_SECURITY_LEVELS:
        raise ValueError(
            f"{level!r} is not a Pod Security level ({', '.join(POD_SECURITY_LEVELS)})"
        )
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
    }


def namespace_patch_manifest(name: str, labels: dict[str, str]) -> Manifest:
    """A Namespace with only `labels`: what `patch` applies to a namespace something else made."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _snake(name: str) -> str:
    """Top-level fields become the class's keyword arguments (`stringData` -> `string_data`);
    nested camelCase keys pass through the SDK unchanged."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def register(
    resource_name: str, manifest: Manifest, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Register `manifest` as the typed resource of its kind (a CustomResource for CRD kinds)."""
    key = (manifest["apiVersion"], manifest["kind"])
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    cls = _CLASSES.get(key)
    if cls is None:
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=body.get("metadata"),
            spec=body.get("spec"),
            opts=opts,
        )
    return cls(resource_name, opts=opts, **{_snake(k): v for k, v in body.items()})


def patch(
    resource_name: str, manifest: Manifest, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Apply `manifest`'s fields to an object that exists without the program (a namespace Helm
    or Talos creates) as the typed `<Kind>Patch` resource: a server-side apply patch with the
    provider's field manager, owning only these fields (deleting the resource removes them, not
    the object). `manifest` is the object's own kind with only the patched fields; it needs the
    provider's server-side apply mode (pulumi-kubernetes v4's default, which
    components/kubernetes/provider.py keeps)."""
    key = (manifest["apiVersion"], manifest["kind"])
    cls = _PATCH_CLASSES.get(key)
    if cls is None:
        raise ValueError(f"no Patch resource registered for {key[1]} {key[0]}")
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    return cls(resource_name, opts=opts, **{_snake(k): v for k, v in body.items()})
