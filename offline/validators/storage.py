"""Does every PersistentVolumeClaim the stack makes bind?

The claims: PersistentVolumeClaim objects, each StatefulSet's `volumeClaimTemplates` and each
generic ephemeral volume (`volumes[].ephemeral.volumeClaimTemplate`) of a pod template. For each:

- its class: the beta annotation `volume.beta.kubernetes.io/storage-class` first, then
  `spec.storageClassName` (kubernetes pkg/apis/core/helper/helpers.go,
  PersistentVolumeClaimHasClass / GetPersistentVolumeClaimClass). `""` asks for static binding
  to a PersistentVolume without class (a note). None asks for the default class, which the
  DefaultStorageClass admission plugin writes into the claim
  (plugin/pkg/admission/storage/storageclass/setdefault/admission.go, Admit ->
  pkg/volume/util/storageclass.go, GetDefaultClass): with no default the claim keeps no class
  and stays Pending (until a default appears: the PV controller then assigns it,
  kubernetes/enhancements keps/sig-storage/3333-reconcile-default-storage-class); with several,
  the newest by creationTimestamp wins (then the first by name), so creation order decides,
  not Git: a problem either way;
- that class exists among the stack's objects;
- its provisioner: `kubernetes.io/no-provisioner` provisions nothing (a note); an in-tree
  provisioner (`kubernetes.io/...`) without a CSIDriver object may still be served by the
  kube-controller-manager or a migrated CSI driver (a note); any other provisioner is an
  external one (a CSI driver such as `csi.proxmox.sinextra.dev`), which the stack installs only
  if it creates its CSIDriver object (every CSI driver chart does): without one nothing
  provisions the claim and it stays Pending (a problem);
- the claim's access modes: at least one, ReadWriteOncePod alone (the API server refuses
  otherwise: pkg/apis/core/validation/validation.go, ValidatePersistentVolumeClaimSpec), and
  only modes the driver serves (csi_access_modes.py);
- given the stack's nodes, a node its pod can run on where the class's `allowedTopologies` let
  the volume be made and the driver's node plugin runs (storage_nodes.py).

The claims' pods: a StatefulSet's template claims and a generic ephemeral volume belong to the
pods of their workload; a PersistentVolumeClaim to the pods whose template mounts it
(`volumes[].persistentVolumeClaim.claimName`, same namespace). `zone_pinned` tells the drain
check (scheduling/drain.py) which pods a zone-local volume ties to their node's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import storage_nodes
from .cluster_objects import (
    Findings,
    annotations_of,
    as_list,
    as_map,
    name_of,
    of_kind,
    pod_template,
    title,
)
from .csi_access_modes import ACCESS_MODES, ordered
from .disruption.objects import Placed
from .scheduling.nodes import Node

#: A StorageClass is the default when one of these annotations is exactly "true"
#: (pkg/volume/util/storageclass.go, IsDefaultAnnotation).
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
DEFAULT_CLASS_ANNOTATION = DEFAULT_CLASS_ANNOTATIONS[0]
#: The claim's class before `spec.storageClassName` existed; it still wins over the field.
BETA_CLAIM_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
#: The in-tree volume plugins' provisioner names (`kubernetes.io/aws-ebs`, `kubernetes.io/rbd`,
#: ...): the PV controller provisions with the plugin of that name itself, or leaves it to the
#: CSI driver it migrated to. Any other name is external: the controller only waits for a
#: provisioner of that name (pkg/controller/volume/persistentvolume/pv_controller.go,
#: findProvisionablePlugin: `!strings.HasPrefix(class.Provisioner, "kubernetes.io/")`).
IN_TREE_PREFIX = "kubernetes.io/"
#: Provisioners whose volumes live on one Proxmox host: the Proxmox CSI plugin gives a volume the
#: topology {region, zone} of the node it was made for (sergelogvinov/proxmox-csi-plugin v0.19.1
#: pkg/csi/controller.go, CreateVolume), which becomes the PersistentVolume's node affinity. (On a
#: shared Proxmox storage it lists every host that has the storage instead; the stacks' classes
#: are on LVM-thin storages, local to each host, and every class of the plugin is treated as
#: local.)
ZONE_LOCAL_PROVISIONERS = frozenset({"csi.proxmox.sinextra.dev"})
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim the cluster will hold, and where it comes from."""

    namespace: str
    name: str
    source: str
    """What creates it (`PersistentVolumeClaim`, `StatefulSet ns/x volumeClaimTemplates[0]`)."""
    where: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    users: tuple[Placed, ...] = ()
    """The workloads (or Pods) whose pods mount it."""

    @property
    def title(self) -> str:
        made_by = "" if self.source == "PersistentVolumeClaim" else f" (from {self.source})"
        return f"{self.where}: PersistentVolumeClaim {self.namespace}/{self.name}{made_by}"

    @property
    def requested_class(self) -> str | None:
        """The class it asks for: a name, "" (none: static binding) or None (the default)."""
        annotations = as_map(self.metadata.get("annotations"))
        if BETA_CLAIM_CLASS_ANNOTATION in annotations:
            return str(annotations[BETA_CLAIM_CLASS_ANNOTATION])
        name = self.spec.get("storageClassName")
        return None if name is None else str(name)


def _template_claims(placed: Placed) -> list[Claim]:
    """The claims of a StatefulSet's volumeClaimTemplates (named `<template>-<set>-<ordinal>`,
    shown for its first ordinal) and of its pod template's generic ephemeral volumes."""
    manifest, claims = placed.manifest, []
    spec = as_map(manifest.get("spec"))
    workload = title(placed)
    if manifest.get("kind") == "StatefulSet":
        start = as_map(spec.get("ordinals")).get("start", 0)
        for index, template in enumerate(as_list(spec.get("volumeClaimTemplates"))):
            metadata = as_map(as_map(template).get("metadata"))
            name = f"{metadata.get('name', '<unnamed>')}-{name_of(manifest)}-{start}"
            source = f"{workload} volumeClaimTemplates[{index}]"
            claim_spec = as_map(as_map(template).get("spec"))
            claims.append(
                Claim(placed.namespace, name, source, placed.where, metadata, claim_spec, (placed,))
            )
    template = pod_template(manifest)
    if template is None:
        return claims
    pod_name = name_of(manifest) if manifest.get("kind") == "Pod" else "<pod>"
    for index, volume in enumerate(as_list(template[1].get("volumes"))):
        ephemeral = as_map(as_map(volume).get("ephemeral"))
        if not ephemeral:
            continue
        claim_template = as_map(ephemeral.get("volumeClaimTemplate"))
        metadata = as_map(claim_template.get("metadata"))
        name = f"{pod_name}-{as_map(volume).get('name', '<unnamed>')}"
        source = f"{workload} volumes[{index}].ephemeral"
        claim_spec = as_map(claim_template.get("spec"))
        claims.append(
            Claim(placed.namespace, name, source, placed.where, metadata, claim_spec, (placed,))
        )
    return claims


def _mounted_claims(manifest: dict[str, Any]) -> set[str]:
    """The PersistentVolumeClaims a Pod or a workload's pod template mounts by name."""
    template = pod_template(manifest)
    if template is None:
        return set()
    return {
        str(as_map(as_map(volume).get("persistentVolumeClaim")).get("claimName"))
        for volume in as_list(template[1].get("volumes"))
        if as_map(volume).get("persistentVolumeClaim")
    }


def claims_of(objects: list[Placed]) -> list[Claim]:
    """Every claim the objects make: their PersistentVolumeClaims and those of their pods."""
    claims = []
    for placed in objects:
        manifest = placed.manifest
        if manifest.get("kind") == "PersistentVolumeClaim":
            metadata = as_map(manifest.get("metadata"))
            spec = as_map(manifest.get("spec"))
            name = name_of(manifest)
            users = tuple(
                o
                for o in objects
                if o.namespace == placed.namespace and name in _mounted_claims(o.manifest)
            )
            claims.append(
                Claim(
                    placed.namespace,
                    name,
                    "PersistentVolumeClaim",
                    placed.where,
                    metadata,
                    spec,
                    users,
                )
            )
        else:
            claims += _template_claims(placed)
    return claims


def is_default(storage_class: dict[str, Any]) -> bool:
    annotations = annotations_of(storage_class)
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


@dataclass
class _Cluster:
    """The storage side of the stack's objects."""

    classes: dict[str, Placed]
    defaults: list[str]
    drivers: set[str]

    @classmethod
    def of(cls, objects: list[Placed]) -> _Cluster:
        classes = {name_of(o.manifest): o for o in of_kind(objects, "StorageClass")}
        defaults = sorted(name for name, o in classes.items() if is_default(o.manifest))
        drivers = {name_of(o.manifest) for o in of_kind(objects, "CSIDriver")}
        return cls(classes, defaults, drivers)

    def listed(self) -> str:
        return ", ".join(sorted(self.classes)) or "none"


def _access_mode_problems(claim: Claim) -> list[str]:
    modes = [str(mode) for mode in as_list(claim.spec.get("accessModes"))]
    if not modes:
        return [
            f"{claim.title}: spec.accessModes is empty; the API server refuses the claim (at "
            "least 1 access mode is required): set it, for example [ReadWriteOnce]"
        ]
    if "ReadWriteOncePod" in modes and len(set(modes)) > 1:
        return [
            f"{claim.title}: spec.accessModes {modes} combines ReadWriteOncePod with other modes, "
            "which the API server refuses: use ReadWriteOncePod alone"
        ]
    return []


def _resolve_class(claim: Claim, cluster: _Cluster, findings: Findings) -> str | None:
    """The class the claim ends up with, or None when it gets none (reported)."""
    requested = claim.requested_class
    if requested == "":
        findings.notes.append(
            f'{claim.title}: storageClassName "" binds only to a pre-created PersistentVolume '
            "without class (static binding); nothing provisions one, so it is not checked"
        )
        return None
    if requested is None:
        if not cluster.defaults:
            findings.problems.append(
                f"{claim.title}: names no StorageClass and there is no default StorageClass: "
                f"the claim stays Pending and its pod never starts; annotate one StorageClass "
                f'with {DEFAULT_CLASS_ANNOTATION}: "true" or set storageClassName '
                f"(StorageClasses: {cluster.listed()})"
            )
            return None
        if len(cluster.defaults) > 1:
            findings.problems.append(
                f"{claim.title}: names no StorageClass and {len(cluster.defaults)} StorageClasses "
                f"are default ({', '.join(cluster.defaults)}): Kubernetes gives the claim the "
                "newest (by creationTimestamp, then by name), so creation order decides, not "
                f'Git; keep {DEFAULT_CLASS_ANNOTATION}: "true" on exactly one'
            )
            return None
        return cluster.defaults[0]
    if requested not in cluster.classes:
        findings.problems.append(
            f"{claim.title}: names StorageClass {requested!r}, which the stack does not create: "
            f"the claim stays Pending; use one of the StorageClasses ({cluster.listed()}) or "
            "create it"
        )
        return None
    return requested


def _provisioner_findings(claim: Claim, class_name: str, cluster: _Cluster) -> Findings:
    found = Findings()
    storage_class = cluster.classes[class_name].manifest
    provisioner = str(storage_class.get("provisioner", ""))
    via = f"StorageClass {class_name} (provisioner {provisioner or 'unset'})"
    if provisioner == NO_PROVISIONER:
        found.notes.append(
            f"{claim.title}: {via} provisions nothing; the claim binds only to a pre-created "
            "PersistentVolume of that class, which is not checked"
        )
        return found
    if provisioner not in cluster.drivers:
        if provisioner.startswith(IN_TREE_PREFIX):
            found.notes.append(
                f"{claim.title}: {via}: no CSIDriver {provisioner} among the stack's objects, so "
                "whether that driver runs in the cluster is unknown"
            )
        else:
            known = " (a CSI driver this check knows)" if provisioner in ACCESS_MODES else ""
            found.problems.append(
                f"{claim.title}: {via}: no CSIDriver {provisioner} among the stack's objects: "
                f"the stack installs no driver of that name{known}, so nothing provisions the "
                "claim and it stays Pending; deploy the driver (its chart creates the "
                "CSIDriver), or use a class whose driver the stack installs"
            )
            return found
    table = ACCESS_MODES.get(provisioner)
    if table is None:
        found.notes.append(
            f"{claim.title}: {via}: access modes not checked, no table for that provisioner "
            "(offline/validators/csi_access_modes.py)"
        )
        return found
    modes = {str(mode) for mode in as_list(claim.spec.get("accessModes"))}
    refused = modes - table.modes
    if refused:
        found.problems.append(
            f"{claim.title}: {via} serves only {', '.join(ordered(table.modes))} "
            f"({table.source}), not {', '.join(ordered(refused))}: the volume would never "
            f"mount; ask for {' or '.join(ordered(table.modes))}, or use a class whose driver "
            "serves that mode"
        )
    return found


def evaluate(objects: list[Placed], nodes: Sequence[Node] | None = None) -> Findings:
    """Check that every claim among `objects` (see the module's docstring) can bind; with the
    stack's `nodes` (scheduling.plan_nodes), also that its pod has a node where the volume can
    be made and mounted (storage_nodes.py)."""
    cluster = _Cluster.of(objects)
    findings = Findings()
    placement = None if nodes is None else storage_nodes.Placement(objects, list(nodes))
    for claim in claims_of(objects):
        findings.checked += 1
        mode_problems = _access_mode_problems(claim)
        findings.problems += mode_problems
        class_name = _resolve_class(claim, cluster, findings)
        if class_name is None or mode_problems:
            continue
        provisioned = _provisioner_findings(claim, class_name, cluster)
        findings.problems += provisioned.problems
        findings.notes += provisioned.notes
        storage_class = cluster.classes[class_name]
        provisioner = str(storage_class.manifest.get("provisioner", ""))
        if placement is None or provisioned.problems or provisioner not in cluster.drivers:
            continue
        findings.problems += placement.claim_problems(claim, storage_class)
    return findings


def zone_pinned(objects: list[Placed]) -> dict[tuple[str, str, str], list[str]]:
    """(kind, namespace, name) of each workload whose pods mount a claim of a
    WaitForFirstConsumer class of a zone-local provisioner (ZONE_LOCAL_PROVISIONERS) -> those
    claims, described. Such a volume is made in the zone of the node its pod is first scheduled
    on and stays there: the pod can only run in that zone afterwards."""
    cluster = _Cluster.of(objects)
    pinned: dict[tuple[str, str, str], list[str]] = {}
    for claim in claims_of(objects):
        class_name = _resolve_class(claim, cluster, Findings())
        if class_name is None:
            continue
        storage_class = cluster.classes[class_name].manifest
        provisioner = str(storage_class.get("provisioner", ""))
        if provisioner not in ZONE_LOCAL_PROVISIONERS:
            continue
        if storage_class.get("volumeBindingMode") != WAIT_FOR_FIRST_CONSUMER:
            continue
        described = f"{claim.name} (StorageClass {class_name}, {provisioner})"
        for user in claim.users:
            key = (str(user.manifest.get("kind")), user.namespace, name_of(user.manifest))
            pinned.setdefault(key, []).append(described)
    return pinned
