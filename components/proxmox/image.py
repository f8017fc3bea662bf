"""The Talos image from the Image Factory, downloaded onto every Proxmox host that runs a node."""

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


def schematic_document(extensions: list[str]) -> str:
    """The Image Factory schematic: the official system extensions to bake into the image."""
    doc = {"customization": {"systemExtensions": {"officialExtensions": sorted(extensions)}}}
    return yaml.safe_dump(doc, sort_keys=True)


@dataclass(frozen=True)
class TalosImageArgs:
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

    def __init__(
        self, name: str, args: TalosImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("proxmox", "TalosImage"), name, {}, opts)
        schematic = talos.imagefactory.Schematic(
            f"{name}-schematic",
            schematic=schematic_document(args.extensions),
            opts=pulumi.ResourceOptions(parent=self),
        )
        urls = talos.imagefactory.get_urls_output(
            talos_version=args.talos_version,
            schematic_id=schematic.id,
            platform=PLATFORM,
            architecture=ARCHITECTURE,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).urls
        file_name = schematic.id.apply(
            lambda sid: f"talos-{sid[:12]}-{args.talos_version}-{PLATFORM}-{ARCHITECTURE}.img"
        )
        self.file_ids = {}
        for host in args.hosts:
            image = proxmoxve.download.FileLegacy(
                f"{name}-{host.name}",
                node_name=host.name,
                datastore_id=host.image_datastore,
                content_type="iso",
                url=urls.disk_image,
                file_name=file_name,
                # Image Factory disk images are zstd-compressed raw disks (.raw.zst).
                decompression_algorithm="zst",
                overwrite=False,
                opts=pulumi.ResourceOptions(parent=self, provider=args.proxmox_provider),
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
