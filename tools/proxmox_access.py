"""Print the Proxmox VE commands that give this program exactly the access it needs.

    python -m tools.proxmox_access --stack prod [--user pulumi@pve] [--token talos-platform]
    python -m tools.proxmox_access --stack prod --csi [--user kubernetes-csi@pve] [--token csi]

Run the printed `pveum`/`pvesm` lines as root on one Proxmox node. They create a role with the
privileges below, a user, a privilege-separated API token, the ACLs for both, and enable the
`import` content type on each image datastore of the stack. With `--csi`, the same for the
Proxmox CSI plugin in the cluster (`CSI_PRIVILEGES`, on the VMs and the stack's VM datastores
only), whose token is the stack's secret `proxmox_csi_token`. Nothing is run from here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from config import validate
from config.models import StackConfig
from offline.stackfile import StackFileError, read_stack_config

ROLE = "TalosPlatform"

#: Each privilege and the provider call that needs it (proxmox/qemu-server
#: `src/PVE/API2/Qemu.pm`, proxmox/pve-storage `src/PVE/API2/Storage/{Status,Content}.pm`,
#: bpg/terraform-provider-proxmox `fwprovider/nodes/resource_download_file.go`). The same names
#: exist in Proxmox VE 8.4 and 9.
PRIVILEGES: dict[str, str] = {
    "Datastore.Allocate": "delete the downloaded image when it is replaced or destroyed",
    "Datastore.AllocateSpace": "create the VM, EFI and cloud-init disks; import from `import`",
    "Datastore.AllocateTemplate": "download the Talos image (download-url)",
    "Datastore.Audit": "list the image datastore's content (read the downloaded file)",
    "SDN.Use": "attach NICs to the Linux bridge (/sdn/zones/localnetwork/<bridge>[/<vlan>])",
    "Sys.Audit": "list nodes and cluster resources; with Sys.Modify, download-url and "
    "query-url-metadata",
    "Sys.Modify": "download-url and query-url-metadata (with Sys.Audit)",
    "VM.Allocate": "create and destroy the VMs",
    "VM.Audit": "read the VMs' configuration and status",
    "VM.Config.CDROM": "the empty CD-ROM drive and the cloud-init drive",
    "VM.Config.CPU": "cores, sockets, CPU type",
    "VM.Config.Cloudinit": "static address, gateway and DNS on the cloud-init drive",
    "VM.Config.Disk": "disk options and growing the imported disk to its size",
    "VM.Config.HWType": "q35, OVMF, virtio-scsi-single",
    "VM.Config.Memory": "memory and ballooning",
    "VM.Config.Network": "the NIC, its MAC and VLAN tag",
    "VM.Config.Options": "name, tags, description, boot order, start on boot, QEMU agent",
    "VM.PowerMgmt": "start the VMs, stop them on destroy",
}


CSI_ROLE = "TalosPlatformCSI"

#: The plugin's own list (sergelogvinov/proxmox-csi-plugin v0.19.1 `docs/install.md`, "Create
#: `CSI` role"), without the replication extras; each with the API call that checks it
#: (proxmox/pve-storage `src/PVE/API2/Storage/Content.pm`, proxmox/qemu-server
#: `src/PVE/API2/Qemu.pm`).
CSI_PRIVILEGES: dict[str, str] = {
    "Datastore.Allocate": "delete a released volume (DELETE .../storage/<ds>/content/<volume>)",
    "Datastore.AllocateSpace": "create a volume (POST .../storage/<ds>/content), attach it",
    "Datastore.Audit": "list the datastore's volumes and free space",
    "VM.Audit": "find the VM of a node and read its disks",
    "VM.Config.Disk": "attach and detach volumes (PUT .../qemu/<vmid>/config)",
}


def csi_commands(stack: StackConfig, user: str, token: str) -> list[str]:
    """The shell lines for the CSI plugin's user and token. The ACLs are on `/vms` and the VM
    datastores of the stack's hosts, not on `/` as the plugin's docs show: the calls above check
    those paths only; a datastore added later needs its own line."""
    token_id = f"{user}!{token}"
    datastores = sorted({h.vm_datastore for h in stack.proxmox.hosts})
    paths = ["/vms", *[f"/storage/{store}" for store in datastores]]
    lines = [
        f"# Role of the Proxmox CSI plugin ({len(CSI_PRIVILEGES)} privileges)",
        f'pveum role add {CSI_ROLE} -privs "{",".join(sorted(CSI_PRIVILEGES))}"',
        f"pveum user add {user} --comment 'Proxmox CSI plugin of {stack.cluster_name}'",
        "# A privilege-separated token, with the same ACLs as its user. The secret is shown once.",
        f"pveum user token add {user} {token} --privsep 1",
    ]
    for path in paths:
        lines.append(f"pveum acl modify {path} -user {user} -role {CSI_ROLE}")
        lines.append(f"pveum acl modify {path} -token '{token_id}' -role {CSI_ROLE}")
    lines.append(
        f"# Then: pulumi config set --secret proxmox_csi_token '{token_id}=<the token secret>'"
    )
    return lines


def commands(stack: StackConfig, user: str, token: str) -> list[str]:
    """The shell lines, with comments, for one stack."""
    token_id = f"{user}!{token}"
    used = {n.host for n in stack.nodes}
    datastores = sorted({h.image_datastore for h in stack.proxmox.hosts if h.name in used})
    lines = [
        f"# Role with exactly what talos-platform needs ({len(PRIVILEGES)} privileges)",
        f'pveum role add {ROLE} -privs "{",".join(sorted(PRIVILEGES))}"',
        f"pveum user add {user} --comment 'talos-platform (Pulumi)'",
        f"pveum acl modify / -user {user} -role {ROLE}",
        "# A privilege-separated token: its rights are the intersection of the user's ACLs and",
        "# its own, so it needs an ACL of its own too. Copy the secret shown: it is shown once.",
        f"pveum user token add {user} {token} --privsep 1",
        f"pveum acl modify / -token '{token_id}' -role {ROLE}",
        "# Then: pulumi config set --secret proxmox_api_token "
        f"'{token_id}=<the token secret, a UUID>'",
        "# Image datastores need the `import` content type (Proxmox VE 8.4 or later). `pvesm set",
        "# --content` replaces the list: keep what `pvesm status --content` shows, add import.",
    ]
    lines += [
        f"pvesm set {store} --content "
        f'"$(pvesh get /storage/{store} --output-format json | '
        f'python3 -c \'import json,sys; print(json.load(sys.stdin)["content"])\'),import"'
        for store in datastores
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.proxmox_access", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--csi", action="store_true", help="the Proxmox CSI plugin's access")
    parser.add_argument("--user", default=None, help="pulumi@pve (kubernetes-csi@pve with --csi)")
    parser.add_argument("--token", default=None, help="talos-platform (csi with --csi)")
    args = parser.parse_args(argv)
    try:
        values = read_stack_config(args.stack)
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = validate(values.values, values.secret_keys)
    if result.config is None:
        for problem in result.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    if args.csi:
        user, token = args.user or "kubernetes-csi@pve", args.token or "csi"
        print("\n".join(csi_commands(result.config, user, token)))
    else:
        user, token = args.user or "pulumi@pve", args.token or "talos-platform"
        print("\n".join(commands(result.config, user, token)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
