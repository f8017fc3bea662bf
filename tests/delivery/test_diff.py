"""`python -m offline.diff` / `diff_plans`: what a reviewer reads in the pull-request comment."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from offline.diff import diff_plans, main
from offline.paths import REPO_ROOT
from offline.stackfile import read_stack_config
from tests.conftest import document

WORKER = """\
    - name: dev-worker-2
      role: worker
      host: pve1
      vm_id: 1122
      ip: 192.0.2.22
      cores: 2
      memory_mb: 4096
      disk_gb: 32
"""


@pytest.fixture(scope="module")
def dev_with_worker(tmp_path_factory: pytest.TempPathFactory) -> dict:
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text()
    anchor = "  talos-platform:gitops:\n"
    assert text.count(anchor) == 1
    stack_file = tmp_path_factory.mktemp("stack") / "Pulumi.dev.yaml"
    stack_file.write_text(text.replace(anchor, WORKER + anchor))
    return document("dev", read_stack_config("dev", stack_file).values)


def test_an_added_worker_creates_exactly_its_resources(dev_with_worker: dict) -> None:
    old = document("dev")
    diff = diff_plans(old, dev_with_worker)
    assert {(r.type, r.name) for r in diff.created} == {
        ("talos-platform:proxmox:NodeVm", "dev-worker-2"),
        ("proxmoxve:index/vmLegacy:VmLegacy", "dev-worker-2"),
        ("command:local:Command", "talos-dev-worker-2-exit"),
        ("talos:machine/configurationApply:ConfigurationApply", "talos-dev-worker-2"),
        ("command:local:Command", "upgrade-dev-worker-2"),
        # The first second node workloads can move to: cloudflared's budget comes with it.
        ("kubernetes:policy/v1:PodDisruptionBudget", "cloudflared-pdb"),
    }
    assert diff.deleted == [] and diff.replaced == []
    # Two steps take the node set: the health gate runs over the new set, and the Kubernetes
    # upgrade checks the new node too. The Kubernetes provider only gains a dependency (on the
    # new node's apply, through the health gate): nothing to send to it, so not a change.
    assert {c.name: [v.path for v in c.changes] for c in diff.changed} == {
        "talos-health": ["inputs.environment.MEMBERS", "inputs.environment.WORKERS"],
        "talos-kubernetes-upgrade": ["inputs.environment.NODES"],
    }
    assert all(c.operation == "update" for c in diff.changed)
    assert diff.unchanged == len(old["resources"]) - 2
    assert [(c.path, c.new) for c in diff.outputs] == [
        ("outputs.nodes.dev-worker-2", {"host": "pve1", "ip": "192.0.2.22", "role": "worker"})
    ]
    # Provider calls are not resources: the new node's config (only it: calls alike in both
    # plans are set aside), and the node list of the talosconfig the stack exports; the steps'
    # own talosconfig names no node, so no step sees a change.
    assert [c.path for c in diff.invokes] == [
        "talos:client/getConfiguration:getConfiguration[0].nodes[2]",
        "talos:machine/getConfiguration:getConfiguration[0]",
    ]
    [new_config] = [c for c in diff.invokes if c.path.startswith("talos:machine/")]
    assert "dev-worker-2" in json.dumps(new_config.new)
    assert diff.summary() == (
        "dev: 0 to replace, 6 to create, 0 to delete, 2 to update, "
        f"{len(old['resources']) - 2} unchanged; "
        "1 output value(s) and 2 provider call argument(s) differ"
    )


def test_the_same_plan_has_no_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "dev.json"
    plan.write_text(json.dumps(document("dev")))
    assert main([str(plan), str(plan)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no changes\ndev: 0 to replace, 0 to create, 0 to delete, 0 to update")


def test_changed_inputs_show_path_and_values() -> None:
    old = document("prod")
    new = copy.deepcopy(old)
    deployment = next(r for r in new["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")
    deployment["inputs"]["spec"]["replicas"] = 3
    deployment["protect"] = True
    [change] = diff_plans(old, new).changed
    assert change.urn == deployment["urn"]
    assert [(c.path, c.old, c.new) for c in change.changes] == [
        ("inputs.spec.replicas", 2, 3),
        ("protect", False, True),
    ]


def test_secret_values_stay_hidden(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = document("dev")
    new = copy.deepcopy(old)
    secret = next(r for r in new["resources"] if r["type"] == "kubernetes:core/v1:Secret")
    provider = next(r for r in new["resources"] if r["type"] == "pulumi:providers:cloudflare")
    # A secret that changed value is `[secret]` on both sides: nothing to show.
    assert provider["inputs"]["apiToken"] == "[secret]"
    # A value that stops being secret is shown, the secret side still hidden.
    secret["inputs"]["stringData"] = {"token": "plain"}
    secret["secret_inputs"] = []
    paths = [tmp_path / "old.json", tmp_path / "new.json"]
    for path, doc in zip(paths, (old, new), strict=True):
        path.write_text(json.dumps(doc))
    assert main([str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    assert '    inputs.stringData: [secret] -> {"token": "plain"}' in out
    assert '    secret_inputs: ["stringData"] -> []' in out
    assert "apiToken" not in out


def test_markdown_and_json_formats(dev_with_worker: dict, tmp_path: Path, capsys) -> None:
    paths = [tmp_path / "old.json", tmp_path / "new.json"]
    for path, doc in zip(paths, (document("dev"), dev_with_worker), strict=True):
        path.write_text(json.dumps(doc))
    assert main([*map(str, paths), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| create | `proxmoxve:index/vmLegacy:VmLegacy` | `dev-worker-2` |" in markdown
    assert "<details><summary>Command talos-health</summary>" in markdown
    assert main([*map(str, paths), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in data["created"]) == [
        "cloudflared-pdb",
        "dev-worker-2",
        "dev-worker-2",
        "talos-dev-worker-2",
        "talos-dev-worker-2-exit",
        "upgrade-dev-worker-2",
    ]
    assert data["summary"].startswith("dev: 0 to replace, 6 to create")
    assert {c["name"]: c["operation"] for c in data["changed"]} == {
        "talos-health": "update",
        "talos-kubernetes-upgrade": "update",
    }


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (None, 2, "no such file"),
        ("{not json", 1, "not JSON"),
        ('{"stack": "dev"}', 1, "not a plan document: missing `project`, `resources`"),
        (
            '{"project": "p", "stack": "s", "resources": [{}]}',
            1,
            "not a plan document: resources[0]: expected",
        ),
    ],
)
def test_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, code: int, message: str
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"project": "p", "stack": "s", "resources": []}))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main([str(good), str(bad)]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: {bad}: {message}" in captured.err


def test_a_component_moved_under_an_alias_is_paired_with_its_children() -> None:
    """The engine pairs a resource with its alias, and children inherit their parent's: a moved
    component and its steps are neither created nor deleted."""
    head = "urn:pulumi:prod::talos-platform::"

    def entry(urn: str, parent: str = "", aliases: list[str] | None = None, **inputs) -> dict:
        kind = urn.split("::")[2].rsplit("$", 1)[-1]
        return {
            "urn": urn,
            "type": kind,
            "name": urn.rsplit("::", 1)[1],
            "parent": parent,
            "aliases": aliases or [],
            "inputs": inputs,
        }

    old_parent = f"{head}talos-platform:talos:RollingUpgrade::upgrade"
    old_child = f"{head}talos-platform:talos:RollingUpgrade$command:local:Command::upgrade-cp-1"
    new_parent = f"{head}talos-platform:talos:Cluster$talos-platform:talos:RollingUpgrade::upgrade"
    new_child = (
        f"{head}talos-platform:talos:Cluster$talos-platform:talos:RollingUpgrade"
        "$command:local:Command::upgrade-cp-1"
    )
    old = {
        "project": "p",
        "stack": "prod",
        "resources": [entry(old_parent), entry(old_child, old_parent, create="true")],
    }
    new = {
        "project": "p",
        "stack": "prod",
        "resources": [
            entry(new_parent, aliases=[old_parent]),
            entry(new_child, new_parent, create="echo"),
        ],
    }
    diff = diff_plans(old, new)
    assert diff.created == [] and diff.deleted == []
    [change] = diff.changed
    assert (change.urn, [c.path for c in change.changes]) == (old_child, ["inputs.create"])
