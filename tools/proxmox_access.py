"""Print the Proxmox VE commands that give one stack's tokens exactly the access they need, on
that stack's pool and resources only.

    python -m tools.proxmox_access --stack prod [--user pulumi-prod@pve] [--token talos-platform]
    python -m tools.proxmox_access --stack prod --csi [--user kubernetes-csi-prod@pve] [--token csi]

Run the printed `pveum`/`pvesm` lines as root on one Proxmox node. They create the stack's pool
(`proxmox.pool`, default `talos-<cluster_name>`) with its VM ids in it, its image and VM
datastores if missing (the VM datastore's volume group and thin pool as a commented template:
the disk and size are the operator's), the roles below, a user of the stack's own, a
privilege-separated API token, and ACLs on the pool, the stack's datastores, its hosts and its
bridge: none on `/` or `/vms`, so a token reaches no VM outside its pool, and a dev token
(which pull-request previews can read) no prod VM. With `--csi`, the same for the Proxmox CSI
plugin in the cluster, whose token is the stack's secret `proxmox_csi_token`. Nothing is run
from here.

Each role holds what the API calls on its path check (`GRANTS`, `CSI_GRANTS`, with the upstream
check each privilege answers: proxmox/qemu-server `src/PVE/API2/Qemu.pm`, proxmox/pve-storage
`src/PVE/API2/Storage/{Status,Content}.pm` and `src/PVE/Storage.pm`, proxmox/pve-manager
`PVE/API2/{Pool,Cluster,Nodes}.pm`, proxmox/pve-guest-common `src/PVE/GuestHelpers.pm`, read at
their 9.x heads; every privilege and call named exists in Proxmox VE 8.4 too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from config import validate
from config.fleet import image_datastores, network_clashes, pool_clashes, vm_datastores
from config.models import StackConfig
from offline.stackfile import StackFileError, read_stack_config
from offline.validators.fleet import read_fleet


@dataclass(frozen=True)
class Grant:
    """One role, the kind of ACL path it is granted on, and why there."""

    role: str
    where: str
    """The ACL path, as a pattern (`/pool/<pool>`)."""
    privileges: dict[str, str]
    """Each privilege and the API call that checks it on this path."""
    reach: str
    """Why this path reaches no other stack's VM."""
    propagate: bool = True


#: The program's VM rights, on the stack's pool. Proxmox applies a pool's ACLs to every VM in
#: it (pve-access-control `src/PVE/RPCEnvironment.pm`, compute_api_permission: `poolroles` of
#: `/vms/<vmid>`), and qemu-server checks the pool itself for a VM being created in it.
POOL_PRIVILEGES: dict[str, str] = {
    "VM.Allocate": "create a VM in the pool (POST /nodes/{node}/qemu with `pool`: VM.Allocate "
    "on /pool/{pool}, Qemu.pm create_vm) and destroy it (destroy_vm, on /vms/{vmid})",
    "VM.Audit": "read the VMs' configuration and status; GET /cluster/resources lists a VM only "
    "with VM.Audit on it (pve-manager Cluster.pm, resources), and the provider takes a VM it "
    "does not see for deleted (bpg proxmoxtf/resource/vm/vm.go, vmRead: GetVMNodeName)",
    "VM.Config.CDROM": "the empty CD-ROM drive and the cloud-init drive",
    "VM.Config.CPU": "cores, sockets, CPU type (Qemu.pm check_vm_modify_config_perm)",
    "VM.Config.Cloudinit": "static address, gateway and DNS on the cloud-init drive",
    "VM.Config.Disk": "disk options, growing the imported disk (PUT .../resize), reading the "
    "EFI disk's volume (Storage.pm check_volume_access: with Datastore.Audit on its datastore)",
    "VM.Config.HWType": "q35, OVMF, virtio-scsi-single",
    "VM.Config.Memory": "memory and ballooning",
    "VM.Config.Network": "the NIC, its MAC and VLAN tag",
    "VM.Config.Options": "name, tags, description, boot order, start on boot, QEMU agent",
    "VM.PowerMgmt": "start the VMs, stop them on destroy",
    "Pool.Audit": "see the pool: the provider reads a VM's pool_id back from the pools GET "
    "/pools lists, which are those with Pool.Audit (bpg vm.go findPoolForVM; pve-manager "
    "Pool.pm index); without it every plan would move the VMs into the pool again",
}

#: The stack's image datastores: download, read back and delete the Talos image.
IMAGE_PRIVILEGES: dict[str, str] = {
    "Datastore.AllocateTemplate": "download the Talos image (POST /nodes/{node}/storage/"
    "{storage}/download-url, pve-storage Status.pm download_url)",
    "Datastore.Audit": "list its `import` content to read the file back (GET .../content, "
    "Content.pm index); create a VM's disk from it (`import-from`, Storage.pm "
    "check_volume_access: Datastore.Audit or AllocateSpace for `import` volumes)",
    "Datastore.Allocate": "delete the image when it is replaced or destroyed (DELETE "
    ".../content/{volume}, Content.pm delete)",
}

#: The VM datastores: new disks, and reading the stack's own.
DISK_PRIVILEGES: dict[str, str] = {
    "Datastore.AllocateSpace": "create the VM, EFI and cloud-init disks (Qemu.pm "
    "check_storage_access, new disks) and grow them (Qemu.pm resize_vm)",
    "Datastore.Audit": "read the EFI disk's volume when the config omits its format (bpg vm.go "
    "vmReadCustom: GetDatastoreFile; Content.pm info, Storage.pm check_volume_access: "
    "Datastore.Audit here and VM.Config.Disk on the volume's VM)",
}

#: The hosts that download an image.
DOWNLOAD_PRIVILEGES: dict[str, str] = {
    "Sys.AccessNetwork": "download-url (Status.pm) and query-url-metadata, called before each "
    "download (pve-manager Nodes.pm; bpg fwprovider/nodes/resource_download_file.go, Create): "
    "Sys.AccessNetwork on /nodes/{node} instead of Sys.Audit + Sys.Modify on / (PVE 8.2+)",
}

#: The bridge, or only the stack's VLAN on it.
BRIDGE_PRIVILEGES: dict[str, str] = {
    "SDN.Use": "attach the NICs: on /sdn/zones/localnetwork/{bridge}/{vlan} with a VLAN tag, on "
    "the bridge's own path without one (pve-guest-common GuestHelpers.pm check_vnet_access)",
}

ROLE = "TalosPlatform"

GRANTS: tuple[Grant, ...] = (
    Grant(
        ROLE,
        "/pool/<pool>",
        POOL_PRIVILEGES,
        "the VMs of this pool only; a VM joins it when created with it, or when an operator "
        "moves it in (Pool.Allocate, which no token here has)",
    ),
    Grant(
        "TalosPlatformImages",
        "/storage/<image datastore>",
        IMAGE_PRIVILEGES,
        "Datastore.Allocate reaches every volume of the datastore (Storage.pm "
        "check_volume_access returns early on it): it must hold this stack's images only",
    ),
    Grant(
        "TalosPlatformDisks",
        "/storage/<vm datastore>",
        DISK_PRIVILEGES,
        "another VM's volume on it needs VM.Config.Disk on that VM to be read or attached "
        "(Storage.pm check_volume_access) and Datastore.Allocate to be deleted (Content.pm "
        "delete); what the stacks share here is free space",
    ),
    Grant(
        "TalosPlatformDownload",
        "/nodes/<host>",
        DOWNLOAD_PRIVILEGES,
        "lets the host fetch a URL; no right on a VM or a datastore",
    ),
    Grant(
        "TalosPlatformBridge",
        "/sdn/zones/localnetwork/<bridge>[/<vlan>]",
        BRIDGE_PRIVILEGES,
        "plugs this pool's VMs into this network only; not propagated, so an untagged "
        "bridge's ACL gives no other stack's VLAN on it",
        propagate=False,
    ),
)

PRIVILEGES: dict[str, str] = {p: why for g in GRANTS for p, why in g.privileges.items()}
"""Every privilege the program's token holds somewhere."""

CSI_ROLE = "TalosPlatformCSI"

#: The plugin's own list (sergelogvinov/proxmox-csi-plugin v0.19.1 `docs/install.md`, "Create
#: `CSI` role"), without the replication extras, split by the path each call checks.
CSI_VM_PRIVILEGES: dict[str, str] = {
    "VM.Audit": "find the VM of a node (GET /cluster/resources: VM.Audit on it) and read its disks",
    "VM.Config.Disk": "attach and detach volumes (PUT .../qemu/{vmid}/config)",
}
CSI_STORAGE_PRIVILEGES: dict[str, str] = {
    "Datastore.Allocate": "delete a released volume (DELETE .../storage/{ds}/content/{volume}); "
    "attach one to a VM (its volumes belong to VM id 9999, so Storage.pm check_volume_access "
    "passes only on Datastore.Allocate)",
    "Datastore.AllocateSpace": "create a volume (POST .../storage/{ds}/content), attach it",
    "Datastore.Audit": "list the datastore's volumes and free space (GET /cluster/resources "
    "type storage)",
}

CSI_GRANTS: tuple[Grant, ...] = (
    Grant(
        CSI_ROLE,
        "/pool/<pool>",
        CSI_VM_PRIVILEGES,
        "the VMs of this pool only",
    ),
    Grant(
        "TalosPlatformCSIStorage",
        "/storage/<vm datastore>",
        CSI_STORAGE_PRIVILEGES,
        "Datastore.Allocate reaches every volume of the datastore, other stacks' VM disks "
        "included (Storage.pm check_volume_access): only a datastore of this stack's own, for "
        "LVM on a volume group of its own (LvmThinPlugin.pm free_image), keeps this token inside "
        "the stack",
    ),
)

CSI_PRIVILEGES: dict[str, str] = {p: why for g in CSI_GRANTS for p, why in g.privileges.items()}


def bridge_path(stack: StackConfig) -> str:
    net = stack.network
    path = f"/sdn/zones/localnetwork/{net.bridge}"
    return f"{path}/{net.vlan}" if net.vlan is not None else path


def grant_paths(stack: StackConfig, grant: Grant) -> list[str]:
    """The concrete ACL paths of `grant` for `stack`."""
    if grant.where == "/pool/<pool>":
        return [f"/pool/{stack.proxmox_pool}"]
    if grant.where == "/storage/<image datastore>":
        return [f"/storage/{ds}" for ds in image_datastores(stack)]
    if grant.where == "/storage/<vm datastore>":
        return [f"/storage/{ds}" for ds in vm_datastores(stack)]
    if grant.where == "/nodes/<host>":
        return [f"/nodes/{host}" for host in sorted({n.host for n in stack.nodes})]
    if grant.where.startswith("/sdn/"):
        return [bridge_path(stack)]
    raise ValueError(f"no paths for {grant.where}")


def acl_paths(stack: StackConfig, grants: Sequence[Grant] = GRANTS) -> list[str]:
    return [path for grant in grants for path in grant_paths(stack, grant)]


def other_stacks(name: str) -> dict[str, StackConfig]:
    """The other stacks of this repository whose configuration is valid."""
    return read_fleet(skip={name}).stacks


def shared_datastores(
    datastores: list[str], others: dict[str, StackConfig], kind: str
) -> list[str]:
    """Comment lines warning of a datastore another stack of this repository uses too."""
    lines = []
    for ds in datastores:
        sharing = sorted(
            name
            for name, other in others.items()
            if ds in (vm_datastores(other) if kind == "vm" else image_datastores(other))
        )
        if sharing:
            lines.append(
                f"# WARNING: datastore {ds} is used by stack {', '.join(sharing)} too. On one "
                "Proxmox cluster, Datastore.Allocate there lets this token read, attach or "
                "delete that stack's volumes: give each stack a datastore of its own."
            )
    return lines


def _role_lines(grants: Sequence[Grant]) -> list[str]:
    lines = []
    for grant in grants:
        privs = ",".join(sorted(grant.privileges))
        lines.append(
            f'pveum role add {grant.role} -privs "{privs}" 2>/dev/null || '
            f'pveum role modify {grant.role} -privs "{privs}"'
        )
    return lines


def _acl_lines(stack: StackConfig, grants: Sequence[Grant], user: str, token_id: str) -> list[str]:
    lines = []
    for grant in grants:
        flag = "" if grant.propagate else " -propagate 0"
        for path in grant_paths(stack, grant):
            lines.append(f"# {path} ({grant.role}): {grant.reach}.")
            lines.append(f"pveum acl modify {path} -user {user} -role {grant.role}{flag}")
            lines.append(f"pveum acl modify {path} -token '{token_id}' -role {grant.role}{flag}")
    return lines


def pool_lines(stack: StackConfig, stack_name: str) -> list[str]:
    """Create the pool and put the stack's VM ids in it."""
    pool = stack.proxmox_pool
    lines = [
        f"# 1. The pool {pool}, by an operator: creating a pool needs Pool.Allocate on it",
        "#    (pve-manager PVE/API2/Pool.pm, create_pool), which no token here gets.",
    ]
    if "/" in pool:
        parent = pool.rsplit("/", 1)[0]
        lines.append(
            f"#    A nested pool: its parent {parent} must exist (pveum pool add {parent})."
        )
    lines += [
        f"pveum pool add {pool} --comment 'talos-platform stack {stack_name} "
        f"(cluster {stack.cluster_name})'",
        "# The stack's VM ids join the pool now: a VM that exists (a stack created before its",
        "# pool) moves in, an id not in use yet waits for its VM. Do it BEFORE the stack uses the",
        "# token below: the token does not see a VM outside the pool, and Pulumi would take it",
        '# for deleted. On a rerun, "already a pool member" is harmless; for a VM in another',
        "# pool, check it is this stack's, then add --allow-move 1 (pve-manager Pool.pm).",
    ]
    lines += [f"pveum pool modify {pool} --vms {node.vm_id}" for node in stack.nodes]
    return lines


def image_lines(stack: StackConfig, others: dict[str, StackConfig]) -> list[str]:
    """Create the stack's image datastores if missing, and give them the `import` content."""
    lines = [
        "# 2. Image datastores: this stack's own, with the `import` content type (Proxmox VE",
        "#    8.4+). A missing one is created as a directory on each host; `pvesm set --content`",
        "#    replaces the list, so the line keeps what the datastore has and adds import.",
        *shared_datastores(image_datastores(stack), others, "image"),
    ]
    for ds in image_datastores(stack):
        if ds == "local":
            lines.append(
                "# WARNING: local is every Proxmox node's default datastore (ISOs, templates, "
                "backups): this token could delete anything on it. Use a datastore of the "
                "stack's own (proxmox.hosts[].image_datastore)."
            )
        lines.append(
            f"pvesh get /storage/{ds} >/dev/null 2>&1 || pvesm add dir {ds} "
            f"--path /var/lib/talos-platform/{ds} --content import"
        )
        lines.append(
            f"pvesm set {ds} --content "
            f'"$(pvesh get /storage/{ds} --output-format json | python3 -c '
            '\'import json,sys; c=json.load(sys.stdin)["content"].split(","); '
            'print(",".join(dict.fromkeys(c + ["import"])))\')"'
        )
    return lines


#: The thin pool inside each VM datastore's volume group (as the installer's `pve/data`).
THIN_POOL = "data"

#: Why a VM datastore needs a volume group of its own, not just a thin pool of its own.
VG_REASON = (
    "#    An LVM-thin storage's volumes are its volume group's LVs, whatever thin pool holds",
    "#    them: pve-storage LvmThinPlugin.pm free_image runs `lvremove -f <vg>/<volume>` and",
    "#    filesystem_path is /dev/<vg>/<volume>, neither checks the thin pool. So",
    "#    Datastore.Allocate on a thin pool in a volume group shared with another stack (or with",
    "#    local-lvm's `pve`) reaches that stack's VM disks too: one volume group per stack,",
    "#    holding nothing else.",
)


def vm_datastore_hosts(stack: StackConfig, datastore: str) -> list[str]:
    """The hosts (not `lost`) whose VM datastore is `datastore`: its `--nodes`."""
    return [h.name for h in stack.proxmox.hosts if h.vm_datastore == datastore and not h.lost]


def vg_check_line(datastore: str) -> str:
    """Fails, naming them, if another storage of the Proxmox cluster is on `datastore`'s volume
    group (any LVM or LVM-thin storage with the same `vgname` can delete its LVs). Single-quoted
    for the shell: no history expansion of `!` in an interactive bash."""
    script = (
        'import json,sys; s={x["storage"]:x for x in json.load(sys.stdin)}; '
        f'vg=s.get("{datastore}",{{}}).get("vgname"); '
        f'o=sorted(n for n,x in s.items() if vg and n!="{datastore}" and x.get("vgname")==vg); '
        f'sys.exit("{datastore}: volume group %s is shared with %s: no boundary between them" '
        '% (vg, ", ".join(o)) if o else 0)'
    )
    return f"pvesh get /storage --output-format json | python3 -c '{script}'"


def local_lvm_warning(datastore: str) -> list[str]:
    if datastore != "local-lvm":
        return []
    return [
        "# WARNING: local-lvm is the installer's thin pool in volume group pve, which holds every "
        "other guest's disks: Datastore.Allocate there reaches them all. Use a datastore of the "
        "stack's own (proxmox.hosts[].vm_datastore)."
    ]


def vm_datastore_lines(stack: StackConfig, others: dict[str, StackConfig]) -> list[str]:
    """Create the stack's VM datastores if missing: an LVM-thin storage on a volume group of its
    own on each host (commented: the disk and size are the operator's), then check that no other
    storage shares that volume group."""
    lines = [
        "# 3. VM datastores: this stack's own, each an LVM-thin storage on a volume group of",
        "#    its own on each of its hosts. The CSI token needs Datastore.Allocate there, which",
        "#    reaches every volume of the datastore (Storage.pm check_volume_access).",
        *VG_REASON,
        *shared_datastores(vm_datastores(stack), others, "vm"),
    ]
    for ds in vm_datastores(stack):
        hosts = vm_datastore_hosts(stack, ds)
        lines += [
            *local_lvm_warning(ds),
            f"#    If {ds} is missing: on each of {', '.join(hosts)}, as root, on a disk or",
            "#    partition that holds nothing else (the size is yours; leave free extents in the",
            "#    volume group for the pool's metadata and its spare):",
            "#      pvcreate /dev/<disk>",
            f"#      vgcreate {ds} /dev/<disk>",
            f"#      lvcreate --type thin-pool --size <size>G --name {THIN_POOL} {ds}",
            "#    then, on one of them (pvesm add activates the storage there, and fails if the",
            "#    thin pool is missing). Content images only: no containers (rootdir) on it.",
            f"pvesh get /storage/{ds} >/dev/null 2>&1 || pvesm add lvmthin {ds} --vgname {ds} "
            f"--thinpool {THIN_POOL} --content images --nodes {','.join(hosts)}",
            f"# Check: no other storage on {ds}'s volume group (exits 1 naming them).",
            vg_check_line(ds),
        ]
    return lines


def commands(
    stack: StackConfig,
    user: str,
    token: str,
    stack_name: str | None = None,
    others: dict[str, StackConfig] | None = None,
) -> list[str]:
    """The shell lines, with comments, for the program's token of one stack."""
    stack_name = stack_name or stack.environment
    others = others or {}
    token_id = f"{user}!{token}"
    return [
        f"# Proxmox access of stack {stack_name}: its VMs live in the pool "
        f"{stack.proxmox_pool}, and its token",
        "# has ACLs on that pool, its datastores, its hosts' downloads and its bridge only; none",
        "# on / or /vms. Run as root on one Proxmox node.",
        *pool_lines(stack, stack_name),
        *image_lines(stack, others),
        *vm_datastore_lines(stack, others),
        f"# 4. Roles, one per kind of path ({len(GRANTS)} roles, {len(PRIVILEGES)} privileges; "
        "shared by the stacks).",
        *_role_lines(GRANTS),
        "# 5. The stack's own user, and a privilege-separated token: its rights are the",
        "#    intersection of the user's ACLs and its own, so both get each ACL. Never give this",
        "#    user or token an ACL of another stack. The token's secret is shown once.",
        f"pveum user add {user} --comment 'talos-platform (Pulumi), stack {stack_name}'",
        f"pveum user token add {user} {token} --privsep 1",
        "# 6. The ACLs, each path with why it reaches no other stack's VM.",
        *_acl_lines(stack, GRANTS, user, token_id),
        "# Then: pulumi config set --secret proxmox_api_token "
        f"'{token_id}=<the token secret, a UUID>'",
        "# and check: pulumi preview --refresh shows no VM to create or replace.",
    ]


def csi_commands(
    stack: StackConfig,
    user: str,
    token: str,
    stack_name: str | None = None,
    others: dict[str, StackConfig] | None = None,
) -> list[str]:
    """The shell lines for the CSI plugin's user and token: ACLs on the stack's pool and VM
    datastores, not on `/` as the plugin's docs show; a datastore added later needs its line."""
    stack_name = stack_name or stack.environment
    others = others or {}
    token_id = f"{user}!{token}"
    lines = [
        f"# The Proxmox CSI plugin of stack {stack_name}: ACLs on the pool {stack.proxmox_pool} "
        "and the VM datastores.",
        f"# The pool must exist with the stack's VMs in it, and the VM datastores must be the "
        f"stack's own (python -m tools.proxmox_access --stack {stack_name}).",
        f"# Roles ({len(CSI_PRIVILEGES)} privileges, the plugin's documented role split by path)",
        *_role_lines(CSI_GRANTS),
        f"pveum user add {user} --comment 'Proxmox CSI plugin, stack {stack_name}'",
        "# A privilege-separated token, with the same ACLs as its user. The secret is shown once.",
        f"pveum user token add {user} {token} --privsep 1",
        *shared_datastores(vm_datastores(stack), others, "vm"),
        *(w for ds in vm_datastores(stack) for w in local_lvm_warning(ds)),
        "# Check: no other storage on a VM datastore's volume group (exits 1 naming them).",
        *VG_REASON,
        *(vg_check_line(ds) for ds in vm_datastores(stack)),
        "# A PersistentVolume made on an earlier datastore stays there (its volumeHandle names",
        "# it): until it is moved, the plugin needs this role on that datastore too, and the",
        "# token reaches whatever else is on it.",
        *_acl_lines(stack, CSI_GRANTS, user, token_id),
        f"# Then: pulumi config set --secret proxmox_csi_token '{token_id}=<the token secret>'",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.proxmox_access", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--csi", action="store_true", help="the Proxmox CSI plugin's access")
    parser.add_argument(
        "--user", default=None, help="pulumi-<stack>@pve (kubernetes-csi-<stack>@pve with --csi)"
    )
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
    others = other_stacks(args.stack)
    clashes = pool_clashes(result.config, others) + network_clashes(result.config, others)
    if clashes:
        for clash in clashes:
            print(f"  - {clash}", file=sys.stderr)
        return 1
    if args.csi:
        user = args.user or f"kubernetes-csi-{args.stack}@pve"
        lines = csi_commands(result.config, user, args.token or "csi", args.stack, others)
    else:
        user = args.user or f"pulumi-{args.stack}@pve"
        lines = commands(result.config, user, args.token or "talos-platform", args.stack, others)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
