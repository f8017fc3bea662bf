"""The offline run records the URNs the Pulumi engine assigns, not the mock monitor's: the qualified
type is the parent's whole qualified type, `$`, the type, and the root Stack qualifies nothing
(pulumi `pkg/resource/deploy/deployment.go`, generateURN; `sdk/go/common/resource/urn.go`,
NewURN). A reviewer can paste any URN of the plan into `pulumi up --target/--replace`."""

from __future__ import annotations

import json
import re

import pytest

from offline.recorder import RESOURCE_SIG, ROOT_STACK_TYPE, SIG, _clean, engine_urn
from tests.conftest import STACKS, by_type, recorded

HEAD = "urn:pulumi:prod::talos-platform::"
STACK_URN = f"{HEAD}{ROOT_STACK_TYPE}::talos-platform-prod"
CLUSTER = f"{HEAD}talos-platform:talos:Cluster::talos"
ROLLING = f"{HEAD}talos-platform:talos:Cluster$talos-platform:talos:RollingUpgrade::upgrade"
UPGRADE_CP_1 = (
    f"{HEAD}talos-platform:talos:Cluster$talos-platform:talos:RollingUpgrade"
    "$command:local:Command::upgrade-prod-cp-1"
)
PROXMOX_PROVIDER = f"{HEAD}pulumi:providers:proxmoxve::proxmox"
VM_CP_1 = f"{HEAD}talos-platform:proxmox:NodeVm$proxmoxve:index/vmLegacy:VmLegacy::prod-cp-1"


def test_exact_urns_of_a_component_a_nested_child_and_a_provider_reference() -> None:
    run = recorded("prod")
    by_urn = {r.urn: r for r in run.registrations}
    assert by_urn[CLUSTER].type == "talos-platform:talos:Cluster"
    assert by_urn[CLUSTER].parent == STACK_URN
    assert by_urn[ROLLING].parent == CLUSTER
    assert by_urn[UPGRADE_CP_1].parent == ROLLING
    assert by_urn[UPGRADE_CP_1].type == "command:local:Command"
    vm = by_urn[VM_CP_1]
    assert vm.parent == f"{HEAD}talos-platform:proxmox:NodeVm::prod-cp-1"
    # A provider reference is `<provider URN>::<provider id>`.
    provider_urn, provider_id = vm.provider.rsplit("::", 1)
    assert provider_urn == PROXMOX_PROVIDER and provider_id
    assert by_urn[PROXMOX_PROVIDER].parent == STACK_URN
    # The rolling upgrade moved under the cluster; its alias is its old top-level URN.
    assert by_urn[ROLLING].aliases == [f"{HEAD}talos-platform:talos:RollingUpgrade::upgrade"]


def _references(value: object) -> list[str]:
    text = json.dumps(value)
    return re.findall(r"urn:pulumi:[^\"\s]+", text)


@pytest.mark.parametrize("stack", STACKS)
def test_every_urn_and_reference_follows_the_engine(stack: str) -> None:
    run = recorded(stack)
    stack_urn = f"urn:pulumi:{stack}::talos-platform::{ROOT_STACK_TYPE}::talos-platform-{stack}"
    known = {r.urn for r in run.registrations} | {stack_urn}
    for r in run.registrations:
        assert "pulumi:pulumi:Stack$" not in r.urn
        assert r.urn == engine_urn(stack, "talos-platform", r.parent, r.type, r.name)
        parent_type = r.parent.split("::")[2]
        expected = r.type if parent_type == ROOT_STACK_TYPE else f"{parent_type}${r.type}"
        assert r.urn.split("::")[2] == expected
        assert r.parent in known, r.urn
        assert set(r.dependencies) <= known, r.urn
        for urns in r.property_dependencies.values():
            assert set(urns) <= known, r.urn
        if r.provider:
            assert r.provider.rsplit("::", 1)[0] in known, r.urn
        assert set(r.replace_with) <= known and r.deleted_with in known | {""}
        for reference in _references(r.inputs):
            assert reference in known, f"{r.urn}: input refers to {reference}"
    assert by_type(run, "talos-platform:talos:Cluster")[0].parent == stack_urn


def test_a_resource_reference_input_is_recorded_as_its_urn() -> None:
    secrets: list[str] = []
    reference = {SIG: RESOURCE_SIG, "urn": UPGRADE_CP_1, "id": "x"}
    assert _clean({"step": reference}, "", secrets) == {"step": UPGRADE_CP_1}
