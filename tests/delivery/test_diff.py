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
        ("talos:machine/configurationApply:ConfigurationApply", "talos-dev-worker-2"),
        ("command:local:Command", "upgrade-dev-worker-2"),
    }
    assert diff.deleted == []
    created = {r.name: r.urn for r in diff.created if r.type != "talos-platform:proxmox:NodeVm"}
    # Two resources wait for every node, so they gain the new one as a dependency; no input of
    # them or of any other resource changes: the Kubernetes provider waits for each node's config
    # (through the health gate), the Kubernetes upgrade for each node's Talos upgrade.
    assert {c.name: c.dependencies_added for c in diff.changed} == {
        "kubernetes-provider": [created["talos-dev-worker-2"]],
        "upgrade-kubernetes": [created["upgrade-dev-worker-2"]],
    }
    assert all(c.changes == [] and c.dependencies_removed == [] for c in diff.changed)
    assert diff.unchanged == len(old["resources"]) - 2
    assert [(c.path, c.new) for c in diff.outputs] == [
        ("outputs.nodes.dev-worker-2", {"host": "pve1", "ip": "192.0.2.22", "role": "worker"})
    ]
    # Provider calls are not resources: the new node's config, and the node lists of the
    # talosconfig and of the health gate.
    assert [c.path for c in diff.invokes] == [
        "talos:client/getConfiguration:getConfiguration[0].nodes[2]",
        "talos:cluster/getHealth:getHealth[0].workerNodes[1]",
        "talos:machine/getConfiguration:getConfiguration[2]",
    ]
    assert diff.summary() == (
        "dev: 4 to create, 0 to delete, 2 to change, "
        f"{len(old['resources']) - 2} unchanged; "
        "1 output value(s) and 3 provider call argument(s) differ"
    )


def test_the_same_plan_has_no_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "dev.json"
    plan.write_text(json.dumps(document("dev")))
    assert main([str(plan), str(plan)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no changes\ndev: 0 to create, 0 to delete, 0 to change")


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
    assert "<details><summary>kubernetes kubernetes-provider</summary>" in markdown
    assert main([*map(str, paths), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in data["created"]) == [
        "dev-worker-2",
        "dev-worker-2",
        "talos-dev-worker-2",
        "upgrade-dev-worker-2",
    ]
    assert data["summary"].startswith("dev: 4 to create")


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
