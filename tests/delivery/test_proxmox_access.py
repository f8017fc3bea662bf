"""`python -m tools.proxmox_access`: the role holds what the provider needs and nothing broad."""

from __future__ import annotations

import pytest

from tools.proxmox_access import CSI_PRIVILEGES, PRIVILEGES, main


def test_prints_role_user_token_acls_and_import_content(capsys: pytest.CaptureFixture) -> None:
    assert main(["--stack", "prod", "--user", "ops@pve", "--token", "t1"]) == 0
    out = capsys.readouterr().out
    role = next(line for line in out.splitlines() if line.startswith("pveum role add"))
    granted = set(role.split('"')[1].split(","))
    assert granted == set(PRIVILEGES)
    # The download needs Sys.Audit and Sys.Modify besides Datastore.AllocateTemplate (bpg
    # download_file docs); bridges need SDN.Use on PVE 8+.
    assert {"Sys.Audit", "Sys.Modify", "Datastore.AllocateTemplate", "SDN.Use"} <= granted
    # Nothing the program does not use: no console (the CD-ROM is empty), no user or ACL admin.
    assert not granted & {"Sys.Console", "Permissions.Modify", "User.Modify", "Realm.Allocate"}
    assert "pveum user token add ops@pve t1 --privsep 1" in out
    assert "pveum acl modify / -token 'ops@pve!t1' -role TalosPlatform" in out
    assert "pveum acl modify / -user ops@pve -role TalosPlatform" in out
    assert "pvesm set local --content" in out and ",import" in out


def test_a_missing_stack_file_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["--stack", "nosuch"]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_csi_plugin_gets_its_own_user_on_vms_and_vm_datastores_only(
    capsys: pytest.CaptureFixture,
) -> None:
    assert main(["--stack", "prod", "--csi"]) == 0
    out = capsys.readouterr().out
    role = next(line for line in out.splitlines() if line.startswith("pveum role add"))
    assert "TalosPlatformCSI" in role
    granted = set(role.split('"')[1].split(","))
    # The plugin's documented role (docs/install.md), nothing to create VMs or change users.
    assert (
        granted
        == set(CSI_PRIVILEGES)
        == {
            "VM.Audit",
            "VM.Config.Disk",
            "Datastore.Allocate",
            "Datastore.AllocateSpace",
            "Datastore.Audit",
        }
    )
    acls = [line for line in out.splitlines() if line.startswith("pveum acl modify")]
    assert {line.split()[3] for line in acls} == {"/vms", "/storage/local-lvm"}
    assert "pveum user token add kubernetes-csi@pve csi --privsep 1" in out
    assert "pulumi config set --secret proxmox_csi_token 'kubernetes-csi@pve!csi=" in out
