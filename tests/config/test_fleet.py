"""The fleet check (`config/fleet.py`, `offline/validators/fleet.py`, issue 16): the
repository's stacks validated together.

Each rule is shown failing on a crafted second cluster of prod, `prod-b`: a copy of prod's stack
file that passes with the shipped stacks (`prod_b()`: another Proxmox cluster, its own network,
VLAN and name), with one field changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import tools.proxmox_access
from config import fleet as fleet_rules
from config import validate
from config.fleet import ProxmoxClusters, fleet_problems, stack_problems
from config.models import StackConfig
from offline import plan
from offline.paths import REPO_ROOT
from offline.stackfile import read_stack_config
from offline.validators import fleet
from offline.validators.checks import CheckResult
from offline.validators.fleet import plan_check, read_fleet
from tests.conftest import NS, STACKS, stack_values

NODE_IPS = ("11", "12", "13", "21", "22", "23")


def config(values: dict[str, str], secrets: frozenset[str]) -> StackConfig:
    result = validate(values, secrets)
    assert result.config is not None, [str(p) for p in result.problems]
    return result.config


def prod_b_data(**changes: Any) -> dict[str, Any]:
    """prod's stack file as `prod-b`, a second prod cluster on another Proxmox cluster (same VM
    ids and datastore names: those are per Proxmox cluster), in 10.30.0.0/24 on VLAN 31; then
    `changes` (a key of the config, or `nodes[0].ip`-like paths) applied."""
    data = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    cfg = data["config"]
    cfg[f"{NS}:cluster_name"] = "prod-b"
    cfg[f"{NS}:proxmox"].update(endpoint="https://pve-b1.example.com:8006/", region="site-b")
    cfg[f"{NS}:network"].update(
        cidr="10.30.0.0/24",
        gateway="10.30.0.1",
        vip="10.30.0.10",
        nameservers=["10.30.0.1"],
        vlan=31,
    )
    for node, last in zip(cfg[f"{NS}:nodes"], NODE_IPS, strict=True):
        node["ip"] = f"10.30.0.{last}"
    # Names Cloudflare holds once per account or zone: its own bucket and hostnames (a hostname
    # both clusters serve is the edge stack's, docs/multi-cluster.md).
    cfg[f"{NS}:backup"]["bucket"] = "talos-platform-prod-b-backups"
    for entry in cfg[f"{NS}:cloudflare"]["hostnames"]:
        entry["hostname"] = entry["hostname"].replace(".example.com", "-b.example.com")
        entry.pop("edge", None)  # its own names, published by its own stack
    for path, value in changes.items():
        section, _, rest = path.partition(".")
        if not rest:
            cfg[f"{NS}:{section}"] = value
            continue
        target = cfg[f"{NS}:{section.split('[')[0]}"]
        if "[" in section:
            target = target[int(section.split("[")[1].rstrip("]"))]
        target[rest] = value
    return data


def own_datastores() -> dict[str, Any]:
    """prod-b's hosts with datastores of its own (b-vm, b-images)."""
    hosts = [
        {"name": f"pve{i}", "vm_datastore": "b-vm", "image_datastore": "b-images"}
        for i in (1, 2, 3)
    ]
    return {"proxmox.hosts": hosts}


def prod_b(**changes: Any) -> StackConfig:
    cfg = prod_b_data(**changes)["config"]
    values, secrets = stack_values("prod")
    for name, value in cfg.items():
        values[name] = value if isinstance(value, str) else json.dumps(value)
    return config(values, secrets)


@cache
def _shipped() -> tuple[tuple[str, StackConfig], ...]:
    return tuple((name, config(*stack_values(name))) for name in STACKS)


def shipped() -> dict[str, StackConfig]:
    return dict(_shipped())


def problems_with(other: StackConfig) -> list[str]:
    return fleet_problems({**shipped(), "prod-b": other})


def test_the_shipped_stacks_pass_together_and_so_does_a_second_prod_cluster() -> None:
    found = read_fleet()
    assert set(STACKS) <= set(found.stacks) and found.unchecked == []
    assert fleet_problems(found.stacks) == []
    assert problems_with(prod_b()) == []


def test_cluster_names_are_distinct() -> None:
    found = problems_with(prod_b(cluster_name="prod", **{"proxmox.pool": "talos-prod-b"}))
    assert found == [
        "Pulumi.prod-b.yaml: talos-platform:cluster_name: got 'prod'; expected a cluster name no "
        "other stack has: stack prod is named prod too (the name makes the nodes' MAC addresses, "
        "components/proxmox/vm.py stable_mac, the image files' names, the default pool and the "
        "backups' CLUSTER_NAME)"
    ]


@pytest.mark.parametrize("pool", ["talos-prod", "talos-prod/b"])
def test_pools_are_distinct_and_not_nested(pool: str) -> None:
    [problem] = problems_with(prod_b(**{"proxmox.pool": pool}))
    assert problem.startswith(f"Pulumi.prod-b.yaml: talos-platform:proxmox.pool: got '{pool}'; ")
    assert "stack prod's pool is talos-prod" in problem


def test_vm_ids_are_unique_on_one_proxmox_cluster_by_endpoint_host_or_region() -> None:
    hosts = own_datastores()
    for same in (
        {"proxmox.endpoint": "https://pve1.example.com/"},
        {"proxmox.region": "datacentre"},
    ):
        found = problems_with(prod_b(**hosts, **same))
        assert len(found) == 6, found
        assert found[0].startswith(
            "Pulumi.prod-b.yaml: talos-platform:nodes[0].vm_id: got 3101; expected a VM id no "
            "other stack uses on this Proxmox cluster: stack prod (same Proxmox cluster: "
        )
        assert found[0].endswith("has it for node prod-cp-1")
    # On another Proxmox cluster the same ids are another cluster's own (prod_b() uses them).
    assert problems_with(prod_b(**hosts)) == []


def test_proxmox_clusters_are_joined_transitively() -> None:
    a, b = prod_b(), prod_b(**{"proxmox.endpoint": "https://pve-c.example.com/"})
    c = prod_b(**{"proxmox.endpoint": "https://pve-c.example.com/", "proxmox.region": "site-c"})
    d = prod_b(**{"proxmox.endpoint": "https://pve-d.example.com/", "proxmox.region": "site-d"})
    clusters = ProxmoxClusters.of({"a": a, "b": b, "c": c, "d": d})
    assert clusters.same("a", "c") and not clusters.same("a", "d")


def test_datastores_are_not_shared_on_one_proxmox_cluster() -> None:
    same_cluster = {"proxmox.region": "datacentre"}
    vm_ids = {f"nodes[{i}].vm_id": 3201 + i for i in range(6)}
    found = problems_with(prod_b(**same_cluster, **vm_ids))
    assert [p.split("; expected")[0] for p in found] == [
        "Pulumi.prod-b.yaml: talos-platform:proxmox.hosts[0].vm_datastore: got 'talos-prod-vm'",
        "Pulumi.prod-b.yaml: talos-platform:proxmox.hosts[0].image_datastore: "
        "got 'talos-prod-images'",
    ]
    assert "stack prod uses talos-prod-vm too on the same Proxmox cluster (region" in found[0]


def test_an_address_is_not_used_twice_on_one_segment() -> None:
    # prod's Proxmox cluster, bridge and VLAN, in prod's network; one node on prod's VIP.
    segment = {"proxmox.region": "datacentre", "network.vlan": 30, "network.cidr": "203.0.113.0/24"}
    segment |= {"network.gateway": "203.0.113.1", "network.vip": "203.0.113.110"}
    segment |= {f"nodes[{i}].ip": f"203.0.113.{130 + i}" for i in range(6)}
    segment |= {f"nodes[{i}].vm_id": 3201 + i for i in range(6)}
    segment |= own_datastores()
    assert [p for p in problems_with(prod_b(**segment)) if "network.vlan" not in p] == []
    found = problems_with(prod_b(**{**segment, "nodes[2].ip": "203.0.113.10"}))
    assert (
        "Pulumi.prod-b.yaml: talos-platform:nodes[2].ip: got '203.0.113.10'; expected an "
        "address no other stack uses on this network: stack prod has it as its VIP on bridge "
        "vmbr0 VLAN 30 of the same Proxmox cluster"
    ) in found
    # Two stacks on one bridge and VLAN are refused by the network rule as well.
    assert any("talos-platform:network.vlan: got 30" in p for p in found)


def test_networks_on_different_segments_do_not_overlap() -> None:
    overlap = {"network.cidr": "203.0.113.0/25", "network.gateway": "203.0.113.1"}
    overlap |= {"network.vip": "203.0.113.110"}
    overlap |= {f"nodes[{i}].ip": f"203.0.113.{100 + i}" for i in range(6)}
    [problem] = problems_with(prod_b(**overlap))
    assert problem.startswith(
        "Pulumi.prod-b.yaml: talos-platform:network.cidr: got '203.0.113.0/25'; expected a "
        "network that does not overlap stack prod's 203.0.113.0/24, which is on another layer-2 "
        "segment (bridge vmbr0 VLAN 30 of another Proxmox cluster)"
    )


@pytest.mark.parametrize("vlan", [None, 1, 30])
def test_an_untagged_or_shared_vlan_is_refused_on_a_bridge_name_any_stack_uses(
    vlan: int | None,
) -> None:
    """As tools.proxmox_access does, across every stack: the Proxmox clusters are inferred, and
    a token's SDN.Use on a bare bridge reaches every VLAN of it. A pair is reported on the later
    stack in name order: staging's against prod-b."""
    found = [
        p.split("; expected a VLAN of this stack's own: ")
        for p in problems_with(prod_b(**{"network.vlan": vlan}))
    ]
    b = f"Pulumi.prod-b.yaml: talos-platform:network.vlan: got {vlan}"
    tag = "untagged" if vlan is None else f"VLAN {vlan}"
    if vlan == 30:
        assert found == [
            [
                b,
                "stack prod is on bridge vmbr0 too (VLAN 30), and an untagged stack's VMs reach "
                "every VLAN of that bridge",
            ]
        ]
        return
    assert [(where, why.split(", and")[0]) for where, why in found] == [
        (b, "stack dev is on bridge vmbr0 too (VLAN 10)"),
        (b, "stack prod is on bridge vmbr0 too (VLAN 30)"),
        (
            "Pulumi.staging.yaml: talos-platform:network.vlan: got 20",
            f"stack prod-b is on bridge vmbr0 too ({tag})",
        ),
    ]


def test_a_bucket_or_a_hostname_is_not_taken_twice_in_one_account_or_zone() -> None:
    prod = shipped()["prod"]
    # prod's Argo CD hostname: each cluster's own, published by its stack.
    hostname = prod.cloudflare.hostnames[1].hostname
    cloudflare = prod_b_data()["config"][f"{NS}:cloudflare"]
    cloudflare["hostnames"][1]["hostname"] = hostname
    found = problems_with(prod_b(**{"backup.bucket": prod.backup.bucket, "cloudflare": cloudflare}))
    assert found == [
        f"Pulumi.prod-b.yaml: talos-platform:backup.bucket: got '{prod.backup.bucket}'; expected "
        "a bucket of this stack's own: stack prod uses it in the same Cloudflare account "
        f"({prod.cloudflare.account_id}, jurisdiction {prod.backup.jurisdiction})",
        f"Pulumi.prod-b.yaml: talos-platform:cloudflare.hostnames[1].hostname: got '{hostname}'; "
        "expected a hostname of this stack's own: stack prod serves it in the same zone (one "
        "DNS record, one tunnel); a hostname two clusters of one environment serve is published "
        "by their edge stack, and `edge: true` in the cluster stacks",
    ]
    # app.example.com: both prod clusters route it, neither publishes it (`edge: true`)...
    shared = prod_b_data()["config"][f"{NS}:cloudflare"]
    shared["hostnames"][0].update(hostname="app.example.com", edge=True)
    assert problems_with(prod_b(cloudflare=shared)) == []
    # ...which a cluster of another environment may not.
    other_env = prod_b(cloudflare=shared).model_copy(update={"environment": "staging"})
    [problem] = fleet_problems({"prod": prod, "prod-b": other_env})
    assert "hostnames[0].hostname: got 'app.example.com'" in problem


def test_one_environment_runs_one_talos_and_kubernetes_minor() -> None:
    assert problems_with(prod_b(kubernetes_version="v1.36.0")) == []  # a patch behind
    [problem] = problems_with(prod_b(kubernetes_version="v1.35.4"))
    assert problem == (
        "Pulumi.prod-b.yaml: talos-platform:kubernetes_version: got 'v1.35.4'; expected the "
        "Kubernetes minor of the other clusters of environment prod: stack prod runs v1.36.2 "
        "(v1.36); only the patch may differ, during a rolling upgrade"
    )
    # Another environment may be a minor ahead (promotion goes dev, staging, prod).
    dev = prod_b().model_copy(update={"environment": "dev", "kubernetes_version": "v1.35.4"})
    assert fleet_problems({"prod": shipped()["prod"], "dev-b": dev}) == []
    # A Talos minor other than v1.13 does not validate yet; the rule is ready for v1.14.
    talos = prod_b().model_copy(update={"talos_version": "v1.14.0"})
    [problem] = problems_with(talos)
    assert problem.startswith("Pulumi.prod-b.yaml: talos-platform:talos_version: got 'v1.14.0'")


def test_each_clash_is_reported_once_on_the_later_stack_or_on_the_planned_one() -> None:
    stacks = {**shipped(), "prod-b": prod_b(cluster_name="prod", **{"proxmox.pool": "p"})}
    assert [p.split(":")[0] for p in fleet_problems(stacks)] == ["Pulumi.prod-b.yaml"]
    [problem] = stack_problems("prod", stacks)
    assert problem.startswith("Pulumi.prod.yaml: talos-platform:cluster_name: got 'prod'")
    assert "stack prod-b is named prod too" in problem
    assert stack_problems("dev", stacks) == []


def _repo_copy(tmp_path: Path, **extra: dict[str, Any] | str) -> Path:
    """dev, staging and prod as shipped, but prod publishing its own hostnames (no edge stack
    here: tests/config/test_edge_config.py has those rules), and `extra` stack files."""
    for name in STACKS:
        text = (REPO_ROOT / f"Pulumi.{name}.yaml").read_text()
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text.replace("        edge: true\n", ""))
    for name, data in extra.items():
        text = data if isinstance(data, str) else yaml.safe_dump(data)
        (tmp_path / f"Pulumi.{name.replace('_', '-')}.yaml").write_text(text)
    return tmp_path


def test_the_cli_prints_every_problem_and_every_stack_it_could_not_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fleet.main([]) == 0
    shipped_files = read_fleet()
    count = len(shipped_files.stacks) + len(shipped_files.edges)
    assert capsys.readouterr().out == f"fleet: {count} stacks checked together\n"
    assert fleet.main(["--root", str(_repo_copy(tmp_path, prod_b=prod_b_data()))]) == 0
    assert capsys.readouterr().out == "fleet: 4 stacks checked together\n"
    invalid = prod_b_data()
    invalid["config"][f"{NS}:network"]["vip"] = "not-an-ip"
    clash = prod_b_data(kubernetes_version="v1.35.0")
    root = _repo_copy(tmp_path, prod_b=clash, qa=invalid, x="config: [unclosed")
    assert fleet.main(["--root", str(root)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "fleet: 3 problem(s):"
    assert lines[1].startswith("  - Pulumi.qa.yaml: not checked with the fleet: its configuration")
    assert lines[2].startswith("  - Pulumi.x.yaml: not checked with the fleet: ")
    assert lines[3].startswith("  - Pulumi.prod-b.yaml: talos-platform:kubernetes_version: ")
    assert fleet.main(["--root", str(tmp_path / "none")]) == 2


def test_the_module_runs_without_a_traceback(tmp_path: Path) -> None:
    root = _repo_copy(tmp_path, qa="config:\n  talos-platform:nodes: 3\n")
    run = subprocess.run(
        [sys.executable, "-m", "offline.validators.fleet", "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "Pulumi.qa.yaml: not checked with the fleet" in run.stderr


def test_the_plan_check_puts_the_stack_file_given_in_place_of_the_repositorys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    data = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    data["config"][f"{NS}:cluster_name"] = "staging"
    data["config"][f"{NS}:proxmox"]["pool"] = "p"
    path.write_text(yaml.safe_dump(data))
    checked = plan_check("prod", read_stack_config("prod", path))
    # Every stack file of the repository: four clusters and the edge stack prod-edge.
    assert checked.ran == "fleet 5 stacks" and checked.notes == []
    [problem] = checked.problems
    assert problem.startswith("Pulumi.prod.yaml: talos-platform:cluster_name: got 'staging'")
    assert plan_check("prod", read_stack_config("prod")).problems == []
    new = plan_check("prod-b", read_stack_config("prod-b", path))
    assert new.ran == "fleet 5 stacks" and new.problems[0].startswith("Pulumi.prod-b.yaml: ")


def test_the_plan_fails_on_a_fleet_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's CLI with a --stack-file whose node takes staging's VM id on the Proxmox cluster
    they share. The plan's other checks (their own tests) are left out to keep this fast."""
    monkeypatch.setattr(plan, "run_checks", lambda *args: CheckResult(ran=["other checks"]))
    data = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    data["config"][f"{NS}:nodes"][0]["vm_id"] = 2101
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    assert plan.main(["--stack", "dev", "--stack-file", str(path), "--format", "json"]) == 1
    err = capsys.readouterr().err
    assert (
        "  - Pulumi.dev.yaml: talos-platform:nodes[0].vm_id: got 2101; expected a VM id no other "
        "stack uses on this Proxmox cluster: stack staging (same Proxmox cluster: endpoint host "
        "pve1.example.com) has it for node staging-cp-1"
    ) in err.splitlines()
    assert err.splitlines()[-1].startswith("checks ran: other checks, fleet 5 stacks, policies ")
    # A clean plan passes with the check (tests/offline/test_plan_cli.py plans every stack).


def test_tools_proxmox_access_refuses_what_the_fleet_refuses(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tools.proxmox_access.pool_clashes is fleet_rules.pool_clashes
    assert tools.proxmox_access.network_clashes is fleet_rules.network_clashes
    assert set(tools.proxmox_access.other_stacks("prod")) == {*STACKS, "prod-b"} - {"prod"}
    nested = prod_b(**{"proxmox.pool": "talos-prod/b"})
    monkeypatch.setattr(tools.proxmox_access, "other_stacks", lambda name: {"prod-b": nested})
    assert tools.proxmox_access.main(["--stack", "prod"]) == 1
    assert "talos-platform:proxmox.pool: got 'talos-prod'" in capsys.readouterr().err
    # A datastore shared with a stack on another Proxmox cluster stays a warning there.
    monkeypatch.setattr(tools.proxmox_access, "other_stacks", lambda name: {"prod-b": prod_b()})
    assert tools.proxmox_access.main(["--stack", "prod"]) == 0
    assert (
        "# WARNING: datastore talos-prod-vm is used by stack prod-b too." in capsys.readouterr().out
    )
