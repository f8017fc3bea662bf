"""`python -m tools.proxmox_access`: each stack's tokens get ACLs on its own pool and resources,
each role only what the calls on its path check, and nothing on `/` or `/vms` (issue 15: a dev
token, which pull-request previews can read, must not reach prod's VMs)."""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import sys

import pytest

from config import validate
from config.fleet import image_datastores, network_clashes, pool_clashes, vm_datastores
from config.models import StackConfig
from tests.conftest import STACKS, stack_values
from tools.proxmox_access import (
    CSI_GRANTS,
    CSI_PRIVILEGES,
    GRANTS,
    PRIVILEGES,
    acl_paths,
    commands,
    csi_commands,
    main,
    vg_check_line,
)


def config(stack: str) -> StackConfig:
    result = validate(*stack_values(stack))
    assert result.config is not None
    return result.config


def output(capsys: pytest.CaptureFixture, *argv: str) -> list[str]:
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def roles(lines: list[str]) -> dict[str, set[str]]:
    """Each `pveum role add NAME -privs "A,B"` line as NAME -> {A, B}."""
    return {
        line.split()[3]: set(line.split('"')[1].split(","))
        for line in lines
        if line.startswith("pveum role add ")
    }


def acls(lines: list[str]) -> list[tuple[str, str, str, str]]:
    """Each `pveum acl modify PATH -user|-token WHO -role ROLE` line as a tuple."""
    found = []
    for line in lines:
        if line.startswith("pveum acl modify "):
            words = line.split()
            found.append((words[3], words[4], words[5].strip("'"), words[7]))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_token_has_acls_on_its_pool_and_resources_only(
    stack: str, capsys: pytest.CaptureFixture
) -> None:
    lines = output(capsys, "--stack", stack)
    granted = acls(lines)
    paths = {path for path, *_ in granted}
    # Nothing at the root or over every VM: that was the whole leak.
    assert not {p for p in paths if p == "/" or p == "/vms" or p.startswith("/vms/")}
    assert f"/pool/talos-{stack}" in paths
    assert f"/storage/talos-{stack}-images" in paths
    assert paths == set(acl_paths(config(stack)))
    # Every path for the stack's own user and for its token (privilege separation).
    user, token = f"pulumi-{stack}@pve", f"pulumi-{stack}@pve!talos-platform"
    assert {(p, kind, who) for p, kind, who, _ in granted} == {
        (p, kind, who) for p in paths for kind, who in (("-user", user), ("-token", token))
    }
    # Each role is exactly its grant, and granted where its calls check it.
    assert roles(lines) == {g.role: set(g.privileges) for g in GRANTS}
    where = {path: role for path, _, _, role in granted}
    assert where[f"/pool/talos-{stack}"] == "TalosPlatform"
    assert where[f"/storage/talos-{stack}-vm"] == "TalosPlatformDisks"
    assert {role for path, role in where.items() if path.startswith("/nodes/")} == {
        "TalosPlatformDownload"
    }


def test_the_roles_hold_nothing_broad() -> None:
    by_role = {g.role: set(g.privileges) for g in GRANTS}
    assert set(PRIVILEGES) == set().union(*by_role.values())
    # Download rights without Sys.Modify on / (pve-storage Status.pm download_url: one of
    # Sys.Audit + Sys.Modify on / or Sys.AccessNetwork on the node).
    assert by_role["TalosPlatformDownload"] == {"Sys.AccessNetwork"}
    assert not set(PRIVILEGES) & {
        "Sys.Modify",
        "Sys.Audit",
        "Sys.Console",
        "Permissions.Modify",
        "Pool.Allocate",
        "User.Modify",
        "Realm.Allocate",
        "VM.Migrate",
        "VM.Clone",
    }
    # Datastore.Allocate (which reaches every volume of a datastore) only on image datastores.
    assert [g.where for g in GRANTS if "Datastore.Allocate" in g.privileges] == [
        "/storage/<image datastore>"
    ]
    assert by_role["TalosPlatformDisks"] == {"Datastore.AllocateSpace", "Datastore.Audit"}
    # The provider reads pool_id back from the pools it may audit (bpg vm.go findPoolForVM).
    assert "Pool.Audit" in by_role["TalosPlatform"]


def test_the_stacks_tokens_share_no_pool_user_or_path(capsys: pytest.CaptureFixture) -> None:
    per_stack = {stack: acls(output(capsys, "--stack", stack)) for stack in STACKS}
    pools = {s: {p for p, *_ in g if p.startswith("/pool/")} for s, g in per_stack.items()}
    assert all(len(p) == 1 for p in pools.values())
    assert len(set().union(*pools.values())) == len(STACKS)
    assert len({who for g in per_stack.values() for _, _, who, _ in g}) == 2 * len(STACKS)
    storages = {s: {p for p, *_ in g if p.startswith("/storage/")} for s, g in per_stack.items()}
    for a, b in itertools.combinations(STACKS, 2):
        assert not storages[a] & storages[b], (a, b)


@pytest.mark.parametrize("kind", ["vm", "image"])
def test_no_two_shipped_stacks_share_a_datastore(kind: str) -> None:
    """Datastore.Allocate (the CSI token's on VM datastores, the program's on image datastores)
    reaches every volume of a datastore: a shared one would let dev's token delete prod's."""
    used = {
        stack: set((vm_datastores if kind == "vm" else image_datastores)(config(stack)))
        for stack in STACKS
    }
    assert used == {
        stack: {f"talos-{stack}-{kind}{'s' if kind == 'image' else ''}"} for stack in STACKS
    }
    for a, b in itertools.combinations(STACKS, 2):
        assert not used[a] & used[b], (a, b)


def test_the_pool_is_created_with_the_stacks_vm_ids_before_any_acl(
    capsys: pytest.CaptureFixture,
) -> None:
    lines = output(capsys, "--stack", "dev")
    assert "pveum pool add talos-dev --comment 'talos-platform stack dev (cluster dev)'" in lines
    moves = [i for i, line in enumerate(lines) if line.startswith("pveum pool modify ")]
    assert [lines[i] for i in moves] == [
        "pveum pool modify talos-dev --vms 1101",
        "pveum pool modify talos-dev --vms 1121",
    ]
    first_acl = next(i for i, line in enumerate(lines) if line.startswith("pveum acl modify"))
    assert max(moves) < first_acl
    assert not [line for line in lines if "--allow-move" in line and not line.startswith("#")]


def test_the_bridge_acl_reaches_the_stacks_vlan_only(capsys: pytest.CaptureFixture) -> None:
    for stack, vlan in (("dev", 10), ("staging", 20), ("prod", 30)):
        acls = [line for line in output(capsys, "--stack", stack) if line.startswith("pveum")]
        assert {line.split()[3] for line in acls if "/sdn/" in line} == {
            f"/sdn/zones/localnetwork/vmbr0/{vlan}"
        }, stack


def test_an_untagged_stack_on_a_shared_bridge_is_refused() -> None:
    """An untagged NIC on a VLAN-aware bridge is a trunk of every VLAN (pve-common Network.pm):
    the untagged stack's token could reach the other's network, and the same VLAN is shared."""
    dev = config("dev")
    others = {name: config(name) for name in ("staging", "prod")}
    assert network_clashes(dev, others) == []
    untagged = dev.model_copy(update={"network": dev.network.model_copy(update={"vlan": None})})
    [prod, staging] = network_clashes(untagged, others)
    assert "talos-platform:network.vlan: got None" in staging and "VLAN 20" in staging
    assert "stack prod is on bridge vmbr0 too (VLAN 30)" in prod
    same = dev.model_copy(update={"network": dev.network.model_copy(update={"vlan": 30})})
    assert [c for c in network_clashes(same, others) if "stack prod" in c]


def second_site(datastore: str) -> str:
    """The one warning prod's commands carry: prod-b, prod's second cluster at another site,
    reuses its datastore names on its own Proxmox cluster (Pulumi.prod-b.yaml; the fleet check
    allows it there), which one stack's commands cannot tell (docs/multi-cluster.md,
    "Datastores")."""
    return (
        f"# WARNING: datastore {datastore} is used by stack prod-b too. On one Proxmox cluster, "
        "Datastore.Allocate there lets this token read, attach or delete that stack's volumes: "
        "give each stack a datastore of its own."
    )


def test_image_datastores_are_the_stacks_own_and_get_import_content(
    capsys: pytest.CaptureFixture,
) -> None:
    lines = output(capsys, "--stack", "prod")
    assert (
        "pvesh get /storage/talos-prod-images >/dev/null 2>&1 || pvesm add dir "
        "talos-prod-images --path /var/lib/talos-platform/talos-prod-images --content import"
    ) in lines
    assert any(line.startswith("pvesm set talos-prod-images --content") for line in lines)
    assert [line for line in lines if "WARNING" in line] == [
        second_site("talos-prod-images"),
        second_site("talos-prod-vm"),
    ]


def test_a_shared_or_default_image_datastore_is_called_out() -> None:
    dev, prod = config("dev"), config("prod")
    hosts = [h.model_copy(update={"image_datastore": "local"}) for h in dev.proxmox.hosts]
    shared = dev.model_copy(update={"proxmox": dev.proxmox.model_copy(update={"hosts": hosts})})
    prod_hosts = [h.model_copy(update={"image_datastore": "local"}) for h in prod.proxmox.hosts]
    prod_local = prod.model_copy(
        update={"proxmox": prod.proxmox.model_copy(update={"hosts": prod_hosts})}
    )
    warnings = [
        line
        for line in commands(shared, "u@pve", "t", "dev", {"prod": prod_local})
        if "WARNING" in line
    ]
    assert len(warnings) == 2
    assert "datastore local is used by stack prod too" in warnings[0]
    assert "local is every Proxmox node's default datastore" in warnings[1]
    assert not [
        line for line in commands(dev, "u@pve", "t", "dev", {"prod": prod}) if "WARN" in line
    ]


def test_a_pool_another_stack_has_or_nests_is_refused() -> None:
    dev, prod = config("dev"), config("prod")
    assert pool_clashes(prod, {"dev": dev}) == []
    for pool in ("talos-dev", "talos-dev/prod"):
        clash = prod.model_copy(update={"proxmox": prod.proxmox.model_copy(update={"pool": pool})})
        [problem] = pool_clashes(clash, {"dev": dev})
        assert problem.startswith(f"talos-platform:proxmox.pool: got '{pool}'; expected ")
        assert "stack dev's pool is talos-dev" in problem


def test_a_missing_stack_file_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["--stack", "nosuch"]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_csi_plugin_gets_the_pool_and_the_vm_datastores(capsys: pytest.CaptureFixture) -> None:
    lines = output(capsys, "--stack", "prod", "--csi")
    # The plugin's documented role (docs/install.md), split by the path each call checks.
    assert set(CSI_PRIVILEGES) == {
        "VM.Audit",
        "VM.Config.Disk",
        "Datastore.Allocate",
        "Datastore.AllocateSpace",
        "Datastore.Audit",
    }
    assert roles(lines) == {g.role: set(g.privileges) for g in CSI_GRANTS}
    granted = acls(lines)
    assert {(path, role) for path, _, _, role in granted} == {
        ("/pool/talos-prod", "TalosPlatformCSI"),
        ("/storage/talos-prod-vm", "TalosPlatformCSIStorage"),
    }
    assert "pveum user token add kubernetes-csi-prod@pve csi --privsep 1" in lines
    assert any(
        "pulumi config set --secret proxmox_csi_token 'kubernetes-csi-prod@pve!csi=" in line
        for line in lines
    )
    # prod's VM datastore is its own: no warning but prod-b's; its volume group's check is printed.
    assert [line for line in lines if "WARNING" in line] == [second_site("talos-prod-vm")]
    assert vg_check_line("talos-prod-vm") in lines


def with_vm_datastore(stack: StackConfig, datastore: str) -> StackConfig:
    hosts = [h.model_copy(update={"vm_datastore": datastore}) for h in stack.proxmox.hosts]
    return stack.model_copy(update={"proxmox": stack.proxmox.model_copy(update={"hosts": hosts})})


def test_a_shared_or_default_vm_datastore_is_called_out_to_the_csi_token() -> None:
    dev, staging, prod = config("dev"), config("staging"), config("prod")
    # dev's CSI datastore on prod's: Datastore.Allocate there would reach prod's VM disks.
    on_prods = with_vm_datastore(dev, "talos-prod-vm")
    others = {"staging": staging, "prod": prod}
    [warning] = [
        line for line in csi_commands(on_prods, "u@pve", "t", "dev", others) if "WARN" in line
    ]
    assert "datastore talos-prod-vm is used by stack prod too" in warning
    # local-lvm, the installer's (every other guest's disks), even when no stack shares it.
    [warning] = [
        line
        for line in csi_commands(with_vm_datastore(dev, "local-lvm"), "u@pve", "t")
        if "WARN" in line
    ]
    assert "local-lvm is the installer's thin pool in volume group pve" in warning
    assert not [line for line in csi_commands(dev, "u@pve", "t", "dev", others) if "WARN" in line]


def test_the_printed_lines_create_the_vm_datastore(capsys: pytest.CaptureFixture) -> None:
    lines = output(capsys, "--stack", "prod")
    add = (
        "pvesh get /storage/talos-prod-vm >/dev/null 2>&1 || pvesm add lvmthin talos-prod-vm "
        "--vgname talos-prod-vm --thinpool data --content images --nodes pve1,pve2,pve3"
    )
    assert add in lines
    # Only options LvmThinPlugin.pm `options` knows (vgname and thinpool fixed, required).
    words = add.split("pvesm add lvmthin ", 1)[1].split()
    assert {w for w in words if w.startswith("--")} <= {
        "--vgname",
        "--thinpool",
        "--nodes",
        "--disable",
        "--content",
        "--bwlimit",
    }
    # The volume group and thin pool: a template for the operator, never a live line.
    assert "#      vgcreate talos-prod-vm /dev/<disk>" in lines
    assert "#      lvcreate --type thin-pool --size <size>G --name data talos-prod-vm" in lines
    assert not [
        line for line in lines if line.split(" ", 1)[0] in {"pvcreate", "vgcreate", "lvcreate"}
    ]
    # Before the ACL on it, and followed by the check of its volume group.
    at = lines.index(add)
    assert lines[at + 2] == vg_check_line("talos-prod-vm")
    assert at < next(
        i for i, line in enumerate(lines) if "/storage/talos-prod-vm" in line and "acl" in line
    )


def run_vg_check(datastore: str, storages: list[dict[str, str]]) -> subprocess.CompletedProcess:
    """The printed check, with `pvesh get /storage`'s JSON on its stdin."""
    _, pipe = vg_check_line(datastore).split(" | ", 1)
    argv = shlex.split(pipe)
    assert argv[:2] == ["python3", "-c"]
    return subprocess.run(
        [sys.executable, "-c", argv[2]],
        input=json.dumps(storages),
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_volume_group_check_fails_on_a_shared_volume_group() -> None:
    own = {
        "storage": "talos-dev-vm",
        "type": "lvmthin",
        "vgname": "talos-dev-vm",
        "thinpool": "data",
    }
    local = {"storage": "local-lvm", "type": "lvmthin", "vgname": "pve", "thinpool": "data"}
    assert run_vg_check("talos-dev-vm", [own, local]).returncode == 0
    # A thin pool of its own in the installer's volume group is no boundary.
    shared = {**own, "vgname": "pve", "thinpool": "talos-dev-vm"}
    failed = run_vg_check("talos-dev-vm", [shared, local])
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "talos-dev-vm: volume group pve is shared with local-lvm: no boundary between them"
    )
