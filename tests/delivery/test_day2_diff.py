"""Day-2 changes, as `python -m offline.diff` shows them: what each one creates, updates and
replaces, judged with the providers' own replace rules (upstream/provider-rules)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from offline.diff import EXIT_PROTECTED, diff_plans, main
from tests.conftest import document, stack_values, structured, with_key

SURVIVORS = {
    "proxmoxve:index/vmLegacy:VmLegacy",
    "talos:machine/secrets:Secrets",
    "talos:machine/bootstrap:Bootstrap",
    "talos:machine/configurationApply:ConfigurationApply",
    "talos:cluster/kubeconfig:Kubeconfig",
    "pulumi:providers:kubernetes",
    "kubernetes:helm.sh/v3:Release",
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
    "cloudflare:index/dnsRecord:DnsRecord",
}
"""What must live through any routine change: a replacement of one is an outage or worse (the
cluster's CAs, etcd's bootstrap, a node, the tunnel and its DNS names)."""

STACKS = ["dev", "prod"]


def _values(stack: str) -> dict[str, str]:
    return stack_values(stack)[0]


def _talos(stack: str) -> str:
    return _values(stack).get("talos-platform:talos_version", "v1.13.9")


def _bump_patch(version: str, by: int = 1) -> str:
    major, minor, patch = version.removeprefix("v").split(".")
    return f"v{major}.{minor}.{int(patch) + by}"


def _kubernetes(stack: str) -> str:
    return _values(stack).get("talos-platform:kubernetes_version", "v1.36.2")


def _extensions(stack: str) -> list[str]:
    key = "talos-platform:talos_extensions"
    values = _values(stack)
    return (
        structured(values, "talos_extensions") if key in values else ["siderolabs/qemu-guest-agent"]
    )


def _replaced_types(diff) -> set[str]:
    return {c.type for c in diff.replaced}


@pytest.mark.parametrize("stack", STACKS)
def test_a_talos_patch_bump_replaces_nothing_that_must_survive(stack: str) -> None:
    bumped = with_key(_values(stack), "talos_version", _bump_patch(_talos(stack)))
    diff = diff_plans(document(stack), document(stack, bumped))
    assert not _replaced_types(diff) & SURVIVORS, [c.reasons for c in diff.replaced]
    # Only the per-host image files are new (their name carries the version).
    assert _replaced_types(diff) == {"proxmoxve:download/file:File"}
    assert diff.created == [] and diff.deleted == [] and diff.protected_losses() == []
    updated = {c.name for c in diff.updated}
    # The secrets keep their creation-time version: `ignore_changes`, not a change.
    secrets = [c for c in diff.changed if c.type == "talos:machine/secrets:Secrets"]
    assert secrets == []
    # Every node's upgrade step runs (and upgrades), the VMs only see a new import source.
    nodes = [n["name"] for n in structured(_values(stack), "nodes")]
    assert {f"upgrade-{n}" for n in nodes} <= updated
    assert set(nodes) <= updated  # VmLegacy: disks[0].importFrom, read at creation only
    # A secret input that changed shows, its value still hidden: each node's configuration
    # (its digest, secret) carries the new installer image.
    step = next(c for c in diff.updated if c.name == f"upgrade-{nodes[0]}")
    assert ("inputs.environment.CONFIG_DIGEST", "[secret]", "[secret, changed]") in [
        (v.path, v.old, v.new) for v in step.changes
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_reverting_a_talos_bump_replaces_nothing_that_must_survive(stack: str) -> None:
    # v1.13.9 -> v1.13.8 is a downgrade: without `ignore_changes` the provider would replace the
    # machine secrets, that is every CA of the cluster.
    reverted = with_key(_values(stack), "talos_version", _bump_patch(_talos(stack), -1))
    diff = diff_plans(document(stack), document(stack, reverted))
    assert not _replaced_types(diff) & SURVIVORS, [c.reasons for c in diff.replaced]
    assert diff.protected_losses() == []


def test_the_diff_flags_the_secrets_replacement_the_provider_would_make() -> None:
    """The same revert with the secrets' `ignore_changes` taken away: replaced, and protected in
    prod, so the diff reports what `pulumi up` would refuse."""
    stack = "prod"
    reverted = with_key(_values(stack), "talos_version", _bump_patch(_talos(stack), -1))
    old, new = document(stack), copy.deepcopy(document(stack, reverted))
    secrets = next(r for r in new["resources"] if r["type"] == "talos:machine/secrets:Secrets")
    assert secrets["ignore_changes"] == ["talosVersion"]
    secrets["ignore_changes"] = []
    diff = diff_plans(old, new)
    [change] = [c for c in diff.replaced if c.type == "talos:machine/secrets:Secrets"]
    assert change.reasons[0].startswith("talosVersion: the provider replaces on `talosVersion`")
    assert "talos_machine_secrets_resource.go" in change.reasons[0]
    assert diff.protected_losses() == [
        "talos:machine/secrets:Secrets talos-secrets would be replaced"
    ]
    # ... while a bump of it would be an update.
    bumped = with_key(_values(stack), "talos_version", _bump_patch(_talos(stack)))
    newer = copy.deepcopy(document(stack, bumped))
    for r in newer["resources"]:
        if r["type"] == "talos:machine/secrets:Secrets":
            r["ignore_changes"] = []
    [update] = [c for c in diff_plans(old, newer).changed if c.name == "talos-secrets"]
    assert update.operation == "update"


@pytest.mark.parametrize("stack", STACKS)
def test_a_kubernetes_patch_bump_upgrades_first_and_replaces_nothing(stack: str) -> None:
    bumped = with_key(_values(stack), "kubernetes_version", _bump_patch(_kubernetes(stack)))
    diff = diff_plans(document(stack), document(stack, bumped))
    assert diff.replaced == [] and diff.created == [] and diff.deleted == []
    updated = {c.name: c for c in diff.updated}
    assert [v.path for v in updated["talos-kubernetes-upgrade"].changes] == [
        "inputs.environment.KUBERNETES_VERSION"
    ]
    # The node configs carry the new version (their invokes), applied after the upgrade step.
    assert any(
        c.path.startswith("talos:machine/getConfiguration:getConfiguration") for c in diff.invokes
    )


@pytest.mark.parametrize("stack", STACKS)
def test_an_added_extension_replaces_only_the_schematic_and_images(stack: str) -> None:
    grown = with_key(_values(stack), "talos_extensions", [*_extensions(stack), "siderolabs/gvisor"])
    diff = diff_plans(document(stack), document(stack, grown))
    assert _replaced_types(diff) == {
        "talos:imageFactory/schematic:Schematic",
        "proxmoxve:download/file:File",
    }
    [schematic] = [c for c in diff.replaced if c.type.endswith("Schematic")]
    assert schematic.reasons == ["schematic: `replace_on_changes` names `schematic`"]
    assert diff.created == [] and diff.deleted == []


@pytest.mark.parametrize("stack", STACKS)
def test_an_added_worker_creates_only_its_own_resources(stack: str) -> None:
    values = _values(stack)
    nodes = structured(values, "nodes")
    worker = next(n for n in reversed(nodes) if n["role"] == "worker")
    last = int(worker["ip"].rsplit(".", 1)[1])
    new_node = dict(
        worker,
        name=f"{stack}-worker-9",
        vm_id=worker["vm_id"] + 50,
        ip=worker["ip"].rsplit(".", 1)[0] + f".{last + 50}",
    )
    diff = diff_plans(
        document(stack), document(stack, with_key(values, "nodes", [*nodes, new_node]))
    )
    assert diff.replaced == [] and diff.deleted == []
    own = {
        f"{stack}-worker-9",
        f"talos-{stack}-worker-9",
        f"talos-{stack}-worker-9-exit",
        f"upgrade-{stack}-worker-9",
    }
    # dev's second worker is the first node workloads can move to: cloudflared gets its
    # disruption budget (none with one node, where it would hold every drain).
    assert {r.name for r in diff.created} == own | (
        {"cloudflared-pdb"} if stack == "dev" else set()
    )
    assert {c.name for c in diff.updated} == {"talos-health", "talos-kubernetes-upgrade"}


def test_a_forced_replacement_is_flagged_and_a_protected_one_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A node moved to another VM ID: the provider replaces the VM (bpg `vm_id` is ForceNew),
    its configuration apply and exit step follow it (`replace_with`), deleted first."""
    values = _values("prod")
    nodes = structured(values, "nodes")
    nodes[0] = dict(nodes[0], vm_id=nodes[0]["vm_id"] + 100)
    old, new = document("prod"), document("prod", with_key(values, "nodes", nodes))
    diff = diff_plans(old, new)
    name = nodes[0]["name"]
    assert {c.name for c in diff.replaced} == {name, f"talos-{name}", f"talos-{name}-exit"}
    vm = next(c for c in diff.replaced if c.name == name)
    assert vm.delete_before_replace and vm.protect
    assert vm.reasons[0].startswith("vmId: the provider replaces on `vmId` (proxmoxve: ")
    apply = next(c for c in diff.replaced if c.name == f"talos-{name}")
    assert apply.reasons == [f"`replace_with` {name}, which is replaced"]
    assert diff.protected_losses() == [
        f"proxmoxve:index/vmLegacy:VmLegacy {name} would be replaced"
    ]
    paths = [tmp_path / "old.json", tmp_path / "new.json"]
    for path, doc in zip(paths, (old, new), strict=True):
        path.write_text(json.dumps(doc))
    assert main([*map(str, paths), "--format", "markdown", "--fail-on-protected"]) == EXIT_PROTECTED
    markdown = capsys.readouterr().out
    table = [line for line in markdown.splitlines() if line.startswith("| ")][2:]
    assert table[0].startswith("| replace |")  # replacements first
    assert "**Refused by `pulumi up`:**" in markdown
    assert main([*map(str, paths)]) == 0  # without --fail-on-protected: shown, not failed
    text = capsys.readouterr().out
    assert f"-/+ replace  proxmoxve:index/vmLegacy:VmLegacy  {name}  [protected]" in text


def test_the_offline_plan_fails_when_a_protected_resource_would_be_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from offline import plan

    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps(document("prod")))
    text = (Path(plan.__file__).parent.parent / "Pulumi.prod.yaml").read_text()
    first = structured(_values("prod"), "nodes")[0]
    moved = tmp_path / "Pulumi.prod.yaml"
    needle = f"vm_id: {first['vm_id']}\n"
    assert text.count(needle) == 1
    moved.write_text(text.replace(needle, f"vm_id: {first['vm_id'] + 100}\n"))
    args = ["--stack", "prod", "--format", "json", "--baseline", str(baseline)]
    assert plan.main([*args, "--stack-file", str(moved)]) == 1
    err = capsys.readouterr().err
    assert (
        f"proxmoxve:index/vmLegacy:VmLegacy {first['name']} would be replaced, but it is "
        "protected: `pulumi up` refuses"
    ) in err
    assert plan.main(args) == 0  # the same plan as the baseline: nothing lost
    assert plan.main([*args[:-1], str(tmp_path / "missing.json")]) == 2


def _moved_first_node(tmp_path: Path, *, nodes_moved: int = 1) -> tuple[Path, list[str]]:
    from offline.paths import REPO_ROOT

    text = (REPO_ROOT / "Pulumi.prod.yaml").read_text()
    moved = []
    for node in structured(_values("prod"), "nodes")[:nodes_moved]:
        needle = f"vm_id: {node['vm_id']}\n"
        assert text.count(needle) == 1
        text = text.replace(needle, f"vm_id: {node['vm_id'] + 100}\n")
        moved.append(node["name"])
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    return path, moved


def test_a_protected_loss_passes_when_the_change_allows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from offline import plan

    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps(document("prod")))
    stack_file, [name] = _moved_first_node(tmp_path)
    args = ["--stack", "prod", "--format", "json", "--baseline", str(baseline)]
    assert plan.main([*args, "--stack-file", str(stack_file), "--allow-loss", name]) == 0
    allowances = tmp_path / "prod.txt"
    allowances.write_text(f"# moved to a new VM ID\n{name}\n")
    assert (
        plan.main([*args, "--stack-file", str(stack_file), "--allow-loss-file", str(allowances)])
        == 0
    )
    capsys.readouterr()
    # An allowance that matches nothing of the change is refused: none outlives its change.
    assert plan.main([*args, "--allow-loss", name]) == 1
    assert f"--allow-loss {name}: no protected resource of this change" in capsys.readouterr().err
    assert plan.main(["--stack", "prod", "--allow-loss", name]) == 2


def test_two_control_planes_at_once_fail_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from offline import plan

    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps(document("prod")))
    stack_file, moved = _moved_first_node(tmp_path, nodes_moved=2)
    allow = [a for name in moved for a in ("--allow-loss", name)]
    args = ["--stack", "prod", "--format", "json", "--baseline", str(baseline)]
    assert plan.main([*args, "--stack-file", str(stack_file), *allow]) == 1
    err = capsys.readouterr().err
    assert (
        f"control planes {', '.join(sorted(moved))} would be replaced or deleted in one change"
        in err
    )


def test_a_lost_host_forgets_its_vms_instead_of_calling_its_dead_api() -> None:
    """Step 1 marks the host lost (an option change only); step 2 moves its nodes: the old VMs
    are forgotten (`retain_on_delete`), the exit steps clean the cluster up."""
    from config.loader import validate

    values = _values("prod")
    proxmox = structured(values, "proxmox")
    dead = proxmox["hosts"][0]["name"]
    proxmox["hosts"][0]["lost"] = True
    marked = with_key(values, "proxmox", proxmox)
    step1 = diff_plans(document("prod"), document("prod", marked))
    assert step1.replaced == [] and step1.created == [] and step1.deleted == []
    stranded = [n["name"] for n in structured(values, "nodes") if n["host"] == dead]
    assert {c.name for c in step1.changed} == {*stranded, f"talos-image-{dead}"}
    assert all([v.path for v in c.changes] == ["retain_on_delete"] for c in step1.changed)
    assert any(
        "on a host marked lost" in w for w in validate(marked, stack_values("prod")[1]).warnings
    )
    # Step 2: the control plane on it moves to another host (one per change).
    nodes = structured(values, "nodes")
    cp = next(n for n in nodes if n["host"] == dead and n["role"] == "controlplane")
    cp["host"] = next(h["name"] for h in proxmox["hosts"] if h["name"] != dead)
    step2 = diff_plans(document("prod", marked), document("prod", with_key(marked, "nodes", nodes)))
    vm = next(c for c in step2.replaced if c.name == cp["name"])
    assert vm.reasons[0].startswith("nodeName: the provider replaces on `nodeName`")
    assert vm.retain_on_delete
    assert {c.name for c in step2.replaced} == {
        cp["name"],
        f"talos-{cp['name']}",
        f"talos-{cp['name']}-exit",
    }


def test_nodes_whose_running_apply_still_resets_them_wait_for_this_version(
    tmp_path: Path,
) -> None:
    """A baseline from before the exit steps: its applies reset the node on delete."""
    from offline.validators.change_gate import change_problems

    values = _values("prod")
    nodes = structured(values, "nodes")
    worker = next(n for n in reversed(nodes) if n["role"] == "worker")
    four = with_key(
        values,
        "nodes",
        [*nodes, dict(worker, name="prod-worker-4", vm_id=worker["vm_id"] + 1, ip="203.0.113.24")],
    )
    baseline = copy.deepcopy(document("prod", four))
    for r in baseline["resources"]:
        if r["type"] == "talos:machine/configurationApply:ConfigurationApply":
            r["inputs"]["onDestroy"] = {"graceful": True, "reboot": False, "reset": True}
    # Not a protected loss here: the VM is allowed; the apply's reset is the problem.
    problems = change_problems(baseline, document("prod"), ["prod-worker-4"])
    assert problems == [
        "talos-prod-worker-4: its configuration apply, as it runs now, resets the node when "
        "deleted (onDestroy.reset), before the node's exit step could drain it; apply this "
        "version of the program first without removing or replacing nodes"
    ]
