"""One Proxmox VM per cluster node, booting the Talos image with its static address."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import pulumi
import pulumi_proxmoxve as proxmoxve

from config.models import NetworkConfig, NodeConfig, ProxmoxHost

from .. import type_token

PROXMOX_OUI = "bc:24:11"
"""The MAC prefix Proxmox VE assigns to its guests."""


def stable_mac(cluster_name: str, node_name: str) -> str:
    """A MAC address fixed for a node for its whole life, so Talos can select its link by it."""
    digest = zlib.crc32(f"{cluster_name}/{node_name}".encode()) & 0xFFFFFF
    tail = digest.to_bytes(3, "big")
    return PROXMOX_OUI + ":" + ":".join(f"{b:02x}" for b in tail)


def vm_description(role: str, cluster_name: str) -> str:
    """A node VM's description, which names its role (policy/constants.py TALOS_VM_DESCRIPTION
    and offline/validators/change_gate.py read it back)."""
    return f"Talos {role} of cluster {cluster_name}; managed by Pulumi"


@dataclass(frozen=True)
class NodeVmArgs:
    node: NodeConfig
    host: ProxmoxHost
    network: NetworkConfig
    cluster_name: str
    environment: str
    pool: str
    """The stack's Proxmox pool (`StackConfig.proxmox_pool`): the stack's tokens reach its VMs
    through it alone (`tools/proxmox_access.py`)."""
    image_file_id: pulumi.Input[str]
    proxmox_provider: pulumi.ProviderResource
    protect: bool = False


class NodeVm(pulumi.ComponentResource):
    """A q35/UEFI VM with the QEMU agent on, its install disk imported from the Talos image."""

    vm: proxmoxve.VmLegacy
    mac_address: str
    ip: str

    def __init__(self, name: str, args: NodeVmArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("proxmox", "NodeVm"), name, {}, opts)
        node, net = args.node, args.network
        self.mac_address = stable_mac(args.cluster_name, node.name)
        self.ip = str(node.ip)
        network_device: proxmoxve.VmLegacyNetworkDeviceArgsDict = {
            "bridge": net.bridge,
            "model": "virtio",
            "mac_address": self.mac_address,
            "firewall": False,
        }
        if net.vlan is not None:
            network_device["vlan_id"] = net.vlan
        disks: list[proxmoxve.VmLegacyDiskArgsDict] = [
            {
                "interface": "scsi0",
                "datastore_id": args.host.vm_datastore,
                # Created through the API (`<datastore>:0,import-from=<volid>`, bpg
                # `proxmox/nodes/vms/custom_storage_device.go`), read at creation only and not a
                # replace trigger (bpg `proxmoxtf/resource/vm/disk/schema.go`). `file_id` would
                # import over SSH (`disk.go`, `createCustomDisk`) and replace the VM whenever the
                # image changes. The disk is then grown to `size`, which must not be below the
                # image's 1246 MiB (Proxmox cannot shrink a disk).
                "import_from": args.image_file_id,
                "size": node.disk_gb,
                "iothread": True,
                "discard": "on",
                "ssd": True,
                "file_format": "raw",
            }
        ]
        if node.data_disk_gb:
            disks.append(
                {
                    "interface": "scsi1",
                    "datastore_id": args.host.vm_datastore,
                    "size": node.data_disk_gb,
                    "iothread": True,
                    "discard": "on",
                    "ssd": True,
                    "file_format": "raw",
                }
            )
        self.vm = proxmoxve.VmLegacy(
            name,
            name=node.name,
            node_name=args.host.name,
            vm_id=node.vm_id,
            # The role is in the description (the policy pack and the change gate read it), not
            # in tags: Proxmox checks tags at creation against /vms/<id> alone, before the VM
            # joins its pool (qemu-server `src/PVE/API2/Qemu.pm`, create_vm:
            # assert_tag_permissions, then add_vm_to_pool; pve-guest-common `GuestHelpers.pm`:
            # check_vm_perm without the pool), and a destroyed VM's id leaves its pool
            # (remove_vm_access), so a pool-scoped token could not recreate a tagged VM.
            description=vm_description(node.role, args.cluster_name),
            # Created in the pool (`pool` of POST /nodes/{node}/qemu: VM.Allocate on
            # /pool/{pool} is enough, proxmox/qemu-server `src/PVE/API2/Qemu.pm`, create_vm),
            # so the stack's token needs no right on /vms. Not a replace trigger: no ForceNew
            # (bpg `proxmoxtf/resource/vm/vm.go`, mkPoolID); a change moves the VM between
            # pools in place (vmUpdatePool, PUT /pools: Pool.Allocate, which the token lacks, so
            # an operator moves existing VMs: docs/proxmox.md). Read back from the pools the
            # token may audit (findPoolForVM), hence Pool.Audit on the pool.
            pool_id=args.pool,
            machine="q35",
            bios="ovmf",
            efi_disk={"datastore_id": args.host.vm_datastore, "type": "4m"},
            operating_system={"type": "l26"},
            scsi_hardware="virtio-scsi-single",
            cpu={"type": "host", "cores": node.cores, "sockets": 1},
            # Dedicated memory, no ballooning: Talos and the kubelet size themselves by it.
            memory={"dedicated": node.memory_mb, "floating": 0},
            # The agent reports to Proxmox (shutdown, fstrim), but the addresses are static:
            # do not wait up to `agent.timeout` (15 min) for it to report IPs at every create
            # and refresh (bpg `proxmoxtf/resource/vm/network/network.go`, ReadNetworkValues).
            agent={"enabled": True, "trim": True, "wait_for_ip": {"disabled": True}},
            # An empty CD-ROM drive on ide0. Left unset, the bridge still adds one
            # (muhlba91/pulumi-proxmoxve #563), as bpg's default: the host's physical drive on
            # ide3, which needs Sys.Console and which a q35 machine cannot start with
            # (bpg `proxmoxtf/resource/vm/vm.go`, dvCDROMInterface; bpg #420).
            cdrom={"file_id": "none", "interface": "ide0"},
            disks=disks,
            network_devices=[network_device],
            initialization={
                "datastore_id": args.host.vm_datastore,
                "interface": "ide2",
                "ip_configs": [
                    {
                        "ipv4": {
                            "address": f"{node.ip}/{net.cidr.prefixlen}",
                            "gateway": str(net.gateway),
                        }
                    }
                ],
                "dns": {"servers": [str(s) for s in net.nameservers]},
            },
            boot_orders=["scsi0"],
            on_boot=True,
            started=True,
            stop_on_destroy=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.proxmox_provider,
                protect=args.protect,
                # Its VM ID is fixed: a replacement can only be created once this one is gone.
                delete_before_replace=True,
                # On a host that is gone for good, deleting the VM can only mean forgetting it.
                retain_on_delete=args.host.lost,
                # Perpetual diffs of the provider: an unset disk `speed` block is reported as
                # changed on every update (muhlba91/pulumi-proxmoxve #664), and a cpu or memory
                # change adds `cdrom` and disk fields that replace the VM (#35, #563).
                # Not `import_from`: a change of it is an update the provider ignores (a new
                # Talos image reaches running nodes through talosctl), and ignoring it here would
                # make Pulumi recreate a replaced VM from the old, deleted image file.
                ignore_changes=["cdrom", "disks[*].speed"],
            ),
        )
        self.register_outputs({"vm_id": self.vm.vm_id, "ip": self.ip, "mac": self.mac_address})
