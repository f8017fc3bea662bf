"""Which PersistentVolumeClaim access modes each known CSI driver serves, read from its source.

Kubernetes passes a claim's access modes to the driver as one CSI access mode
(kubernetes-csi/csi-lib-utils accessmodes/access_modes.go, ToCSIAccessMode, which the
external-provisioner and external-attacher use; the kubelet maps the same way for
NodeStageVolume): ReadWriteOnce -> SINGLE_NODE_WRITER, or SINGLE_NODE_MULTI_WRITER when the
controller advertises that capability; ReadWriteOncePod -> SINGLE_NODE_SINGLE_WRITER (with it;
SINGLE_NODE_WRITER without); ReadOnlyMany -> MULTI_NODE_READER_ONLY; ReadWriteMany ->
MULTI_NODE_MULTI_WRITER. A driver that supports none of a claim's CSI modes refuses the volume:
the claim may bind, but its pod never starts.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCESS_MODES_ORDER = ("ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany")


@dataclass(frozen=True)
class DriverModes:
    modes: frozenset[str]
    """The Kubernetes access modes the driver serves."""
    source: str
    """The upstream file that says so."""


#: provisioner (CSI driver name) -> the access modes it serves.
ACCESS_MODES: dict[str, DriverModes] = {
    # The Proxmox CSI plugin attaches a Proxmox disk to one VM: its node service accepts only
    # single-node CSI modes (NodeStageVolume answers "VolumeCapability not supported" to
    # others), so ReadOnlyMany and ReadWriteMany claims are provisioned but never mounted.
    "csi.proxmox.sinextra.dev": DriverModes(
        frozenset({"ReadWriteOnce", "ReadWriteOncePod"}),
        "sergelogvinov/proxmox-csi-plugin v0.19.1 pkg/csi/node.go: volumeCaps = "
        "SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER, "
        "SINGLE_NODE_MULTI_WRITER",
    ),
}


def ordered(modes: set[str] | frozenset[str]) -> list[str]:
    """Access modes in the order Kubernetes documents them, unknown ones last."""
    rank = {mode: index for index, mode in enumerate(ACCESS_MODES_ORDER)}
    return sorted(modes, key=lambda mode: (rank.get(mode, len(rank)), mode))
