"""The Talos image from the Image Factory, downloaded onto every Proxmox host that runs a node.

The boot disk is created through the Proxmox API alone (no SSH to the hosts): the factory's
nocloud image is downloaded as `import` content in qcow2 and each VM's disk is created from it
with `import_from` (`components/proxmox/vm.py`). That needs Proxmox VE 8.4 or later and the
`import` content type on the image datastore; see README, "Prerequisites".
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_proxmoxve as proxmoxve
import pulumiverse_talos as talos
import yaml

from config.models import ProxmoxHost

from .. import type_token

PLATFORM = "nocloud"
"""Proxmox hands each VM its static address on a cloud-init drive; the nocloud image reads it."""
ARCHITECTURE = "amd64"

CONTENT_TYPE = "import"
"""Proxmox storage content for disk images to import (PVE 8.4+: `.qcow2`, `.raw`, `.vmdk`,
`.ova`; proxmox/pve-storage `src/PVE/Storage.pm`, `$IMPORT_EXT_RE_1`)."""
DISK_FORMAT = "qcow2"
"""What the VMs import. The factory's own URL for a nocloud disk image ends in `.raw.xz`
(siderolabs/talos `pkg/machinery/platforms/platforms.go`, `DiskImageSuffix: "raw.xz"`), and
Proxmox refuses any decompression of `import` content ("decompression not supported for import",
pve-storage `src/PVE/API2/Storage/Status.pm`, download_url). The factory also builds the same
disk as an uncompressed qcow2 when the path ends in `.qcow2` (siderolabs/image-factory
`internal/profile/profile.go`, `ParseFromPath`: disk formats raw, qcow2, vhd, ova; compression
optional), which Proxmox downloads and imports as it is."""
_FACTORY_DISK_SUFFIX = ".raw.xz"


def schematic_document(extensions: list[str]) -> str:
    """The Image Factory schematic: the official system extensions to bake into the image."""
    doc = {"customization": {"systemExtensions": {"officialExtensions": sorted(extensions)}}}
    return yaml.safe_dump(doc, sort_keys=True)


def importable_image_url(disk_image: str) -> str:
    """The qcow2 form of the factory's disk image URL (`.../nocloud-amd64.raw.xz` ->
    `.../nocloud-amd64.qcow2`): the same schematic and version, a format `import` accepts."""
    if not disk_image.endswith(_FACTORY_DISK_SUFFIX):
        raise ValueError(
            f"Image Factory disk image URL {disk_image!r} does not end in {_FACTORY_DISK_SUFFIX}: "
            "the factory's URL scheme changed; update components/proxmox/image.py"
        )
    return disk_image.removesuffix(_FACTORY_DISK_SUFFIX) + "." + DISK_FORMAT


def image_file_name(cluster_name: str, host: str, talos_version: str, schematic_id: str) -> str:
    """The file's name on the host: the cluster's name first, so stacks sharing one Proxmox
    cluster (and its datastores) never download onto, or delete, each other's image; then the
    host's, so per-host downloads onto one shared datastore do not collide either."""
    return (
        f"{cluster_name}-{host}-talos-{talos_version}-{schematic_id[:12]}-{PLATFORM}-"
        f"{ARCHITECTURE}.{DISK_FORMAT}"
    )


@dataclass(frozen=True)
class TalosImageArgs:
    cluster_name: str
    talos_version: str
    extensions: list[str]
    hosts: list[ProxmoxHost]
    """Only the hosts that run at least one node."""
    proxmox_provider: pulumi.ProviderResource


class TalosImage(pulumi.ComponentResource):
    """Schematic, factory URLs, and the boot disk image on each host's image datastore."""

    schematic_id: pulumi.Output[str]
    installer_image: pulumi.Output[str]
    file_ids: dict[str, pulumi.Output[str]]
    """Per host: the volume id (`<datastore>:import/<file>`) the VMs import their disk from."""

    def __init__(
        self, name: str, args: TalosImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("proxmox", "TalosImage"), name, {}, opts)
        schematic = talos.imagefactory.Schematic(
            f"{name}-schematic",
            schematic=schematic_document(args.extensions),
            # The provider updates a changed schematic in place and sets the new schematic ID as
            # the resource's ID (terraform-provider-talos v0.11.0
            # `talos_image_factory_schematic_resource.go`, Update), but an update cannot change a
            # Pulumi resource's ID (pulumi/pulumi#3729): the program would keep the old ID, so
            # an added extension would reach neither the installer image nor the disk image.
            # Replacing it gets the new ID; the factory keeps every schematic (Delete is a no-op).
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["schematic"]),
        )
        urls = talos.imagefactory.get_urls_output(
            talos_version=args.talos_version,
            schematic_id=schematic.id,
            platform=PLATFORM,
            architecture=ARCHITECTURE,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).urls
        self.file_ids = {}
        for host in args.hosts:
            file_name = schematic.id.apply(
                lambda sid, h=host.name: image_file_name(
                    args.cluster_name, h, args.talos_version, sid
                )
            )
            # bpg `fwprovider/nodes/resource_download_file.go`: url, file_name, content_type,
            # datastore_id and node_name replace the file when they change (a new Talos version
            # or schematic downloads a new file); `overwrite=False` skips the size probe of the
            # URL on every refresh. The VMs do not follow: `import_from` is read at creation only.
            image = proxmoxve.download.File(
                f"{name}-{host.name}",
                node_name=host.name,
                datastore_id=host.image_datastore,
                content_type=CONTENT_TYPE,
                url=urls.disk_image.apply(importable_image_url),
                file_name=file_name,
                overwrite=False,
                # The factory builds a schematic's image on its first request: give the node's
                # download task time (default 600 s); a rerun of `pulumi up` finds it cached.
                upload_timeout=1800,
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.proxmox_provider, retain_on_delete=host.lost
                ),
            )
            self.file_ids[host.name] = image.id
        self.schematic_id = schematic.id
        self.installer_image = urls.installer
        self.register_outputs(
            {
                "schematic_id": self.schematic_id,
                "installer_image": self.installer_image,
                "file_ids": self.file_ids,
            }
        )
