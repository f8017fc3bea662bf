"""Every VM is created in its stack's Proxmox pool, and moving an existing stack into one
replaces nothing (issue 15: the stack's token reaches its pool only, tools/proxmox_access.py)."""

from __future__ import annotations

import copy

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from offline.answers import PlanMocks
from offline.diff import diff_plans
from offline.paths import REPO_ROOT
from offline.stackfile import read_stack_config
from tests.conftest import STACKS, by_type, document, recorded, stack_values, structured, with_key

VM = "proxmoxve:index/vmLegacy:VmLegacy"
IMAGE = "proxmoxve:download/file:File"


@pytest.mark.parametrize("stack", STACKS)
def test_every_vm_is_in_its_stacks_pool(stack: str) -> None:
    vms = by_type(recorded(stack), VM)
    assert vms
    assert {vm.inputs.get("poolId") for vm in vms} == {f"talos-{stack}"}


def test_the_stacks_pools_are_distinct_and_not_nested() -> None:
    pools = [{vm.inputs["poolId"] for vm in by_type(recorded(stack), VM)}.pop() for stack in STACKS]
    assert len(set(pools)) == len(pools)
    assert not [(a, b) for a in pools for b in pools if a != b and a.startswith(b + "/")]


def test_a_pool_set_in_the_stack_reaches_the_vms() -> None:
    values = stack_values("dev")[0]
    proxmox = structured(values, "proxmox")
    proxmox["pool"] = "homelab/dev"
    vms = by_type(recorded("dev", with_key(values, "proxmox", proxmox)), VM)
    assert {vm.inputs["poolId"] for vm in vms} == {"homelab/dev"}


def test_the_mocked_provider_reads_the_pool_back() -> None:
    # bpg vm.go vmReadCustom sets pool_id from the pools the token may audit: the VM's pool,
    # or "" (dvPoolID) for a VM in none.
    mocks = PlanMocks()
    _, out = mocks.new_resource(MockResourceArgs(VM, "vm", {"vmId": 1101, "poolId": "talos-dev"}))
    assert out["poolId"] == "talos-dev"
    _, out = mocks.new_resource(MockResourceArgs(VM, "vm", {"vmId": 1101}))
    assert out["poolId"] == ""


@pytest.fixture(scope="module")
def dev_before_pools(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The dev plan as the program made it before pools: no pool_id, images on `local`."""
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text()
    assert text.count("image_datastore: talos-dev-images") == 1
    stack_file = tmp_path_factory.mktemp("stack") / "Pulumi.dev.yaml"
    stack_file.write_text(
        text.replace("image_datastore: talos-dev-images", "image_datastore: local")
    )
    old = copy.deepcopy(document("dev", read_stack_config("dev", stack_file).values))
    for resource in old["resources"]:
        if resource["type"] == VM:
            del resource["inputs"]["poolId"]
    return old


def test_moving_an_existing_stack_into_its_pool_replaces_no_vm(dev_before_pools: dict) -> None:
    diff = diff_plans(dev_before_pools, document("dev"))
    vms = [c for c in diff.changed if c.type == VM]
    assert {c.name for c in vms} == {"dev-cp-1", "dev-worker-1"}
    # pool_id is updated in place (bpg vm.go: no ForceNew); the image's new volume id reaches
    # import_from, which is read at creation only (disk/schema.go: no ForceNew).
    assert all(c.operation == "update" for c in vms), [c.reasons for c in vms]
    assert {v.path for c in vms for v in c.changes} == {
        "inputs.poolId",
        "inputs.disks[0].importFrom",
    }
    # The image itself moves to the stack's own datastore: a new download, then the old one
    # deleted (datastore_id RequiresReplace, fwprovider/nodes/resource_download_file.go).
    [image] = [c for c in diff.changed if c.type == IMAGE]
    assert image.operation == "replace"
    assert diff.created == [] and diff.deleted == []
    assert {c.type for c in diff.replaced} == {IMAGE}
