"""`python -m offline.plan`: its three formats, its exit codes, and that no secret leaks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from offline.answers import FABRICATED_SECRETS
from offline.paths import REPO_ROOT
from offline.plan import main, parser
from offline.render import RENDERERS
from tests.conftest import STACKS, document

SECRET_VALUES = ("offline-secret-placeholder", "s3cr3t-value")


def assert_no_secret(out: str) -> None:
    """Neither a stack secret nor any key, certificate or token the offline runtime fabricated
    (after the real formats: base64 PEM, kubeconfig, tunnel token) appears in the output."""
    assert FABRICATED_SECRETS, "the run fabricated no secret: the check would be empty"
    for value in (*SECRET_VALUES, *FABRICATED_SECRETS):
        assert value not in out


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("stack", STACKS)
def test_json_plan_lists_the_graph(capsys: pytest.CaptureFixture[str], stack: str) -> None:
    code, out, err = run_main(capsys, "--stack", stack, "--format", "json")
    assert code == 0
    assert_checks_passed(stack, err)
    doc = json.loads(out)
    assert set(doc) == {"project", "stack", "resources", "invokes", "outputs", "summary"}
    assert doc["stack"] == stack and doc["project"] == "talos-platform"
    resource_keys = {
        "urn",
        "type",
        "name",
        "parent",
        "dependencies",
        "provider",
        "protect",
        "ignore_changes",
        "replace_on_changes",
        "replacement_trigger",
        "replace_with",
        "delete_before_replace",
        "retain_on_delete",
        "deleted_with",
        "aliases",
        "inputs",
        "secret_inputs",
        "secret_digests",
        "id",
    }
    # A read resource (an edge stack's StackReference) says so: `read`.
    assert all(set(r) - {"read"} == resource_keys for r in doc["resources"])
    assert all(set(i) == {"token", "args"} for i in doc["invokes"])
    summary = doc["summary"]
    assert summary["resources"] == len(doc["resources"])
    assert sum(summary["by_type"].values()) == summary["resources"]
    assert summary["critical_path"] >= 9
    assert doc["outputs"]["kubeconfig"] == "[secret]"
    assert doc["outputs"]["talosconfig"] == "[secret]"
    assert_no_secret(out)


def test_text_plan_shows_the_component_tree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--stack", "prod")
    assert code == 0
    assert "- talos-platform:talos:Cluster  talos" in out
    assert "    - talos:machine/bootstrap:Bootstrap  talos-bootstrap" in out
    assert "[protected]" in out
    # Siblings in the order they can be created: the upgrade chain reads in its order.
    steps = [line.split()[-1] for line in out.splitlines() if "command:local:Command" in line]
    upgrades = [s for s in steps if s.startswith("upgrade-")]
    assert upgrades[:3] == ["upgrade-prod-cp-1", "upgrade-prod-cp-2", "upgrade-prod-cp-3"]
    # The Kubernetes upgrade before any configuration apply, the health gate after them all.
    assert out.index("talos-kubernetes-upgrade") < out.index("ConfigurationApply")
    assert out.rindex("ConfigurationApply") < out.index("talos-health")
    assert out.index("talos-bootstrap") < out.index("talos-kubeconfig")
    resources = len(document("prod")["resources"])
    assert any(line.startswith(f"stack prod: {resources} resources") for line in out.splitlines())
    assert "placeholders stand in for secrets" in err


def test_mermaid_plan_is_a_graph_with_subgraphs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--stack", "staging", "--format", "mermaid")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "graph LR"
    assert any(line.strip().startswith("subgraph") and "Cluster: talos" in line for line in lines)
    assert any("==>" in line for line in lines), "the critical path is drawn"
    assert sum("-->" in line or "==>" in line for line in lines) > 20
    assert_no_secret(out)


def test_mermaid_md_plan_is_the_graph_fenced() -> None:
    assert parser().parse_args(["--stack", "dev", "--format", "mermaid-md"]).format == "mermaid-md"
    out = RENDERERS["mermaid-md"](document("dev"))
    assert out == f"```mermaid\n{RENDERERS['mermaid'](document('dev'))}```\n"
    assert out.startswith("```mermaid\ngraph LR\n") and out.endswith("\n```\n")
    assert out.count("```") == 2


def checks_line(err: str) -> str:
    [line] = [line for line in err.splitlines() if line.startswith("checks ")]
    return line


def assert_checks_passed(stack: str, err: str) -> None:
    """The pull-request comment shows the plan's stderr: a reviewer sees what was checked, and
    how much of it, not only that nothing failed."""
    line = checks_line(err)
    assert line.startswith("checks passed: ")
    doc = document(stack)
    nodes = sum(r["type"] == "talos-platform:proxmox:NodeVm" for r in doc["resources"])
    assert f"Talos machine configurations {nodes}" in line
    assert f"VMs {nodes}" in line
    objects = sum(
        r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm.sh")
        for r in doc["resources"]
    )
    assert f"Kubernetes objects {objects}" in line
    assert f"GitOps tree ({stack}) " in line
    for check in ("Proxmox downloads", "Helm"):
        assert check in line
    assert re.search(r"policies [1-9]\d*", line)
    assert re.search(r"PodDisruptionBudgets [1-9]\d*", line)


def test_a_failing_plan_says_which_checks_ran_not_passed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def mutate(config: dict) -> None:
        config["talos-platform:gitops"]["repo_url"] = "https://git.example.com/other.git"

    path = _write_stack(tmp_path, mutate)
    code, _, err = run_main(capsys, "--stack", "prod", "--stack-file", str(path))
    assert code == 1
    line = checks_line(err)
    assert line.startswith("checks ran: ") and "Talos machine configurations 6" in line
    assert "checks passed" not in err


def test_a_plan_against_a_baseline_names_the_change_gate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps(document("staging")))
    code, _, err = run_main(
        capsys, "--stack", "staging", "--format", "json", "--baseline", str(baseline)
    )
    assert code == 0
    assert checks_line(err).endswith(", changes against the baseline")


def _write_stack(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    mutate(data["config"])
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bad_stack_file_exits_1_naming_every_bad_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def mutate(config: dict) -> None:
        config["talos-platform:network"]["vip"] = "192.0.2.99"
        config["talos-platform:nodes"][1]["ip"] = "203.0.113.11"
        config["talos-platform:talos_version"] = "latest"
        config["talos-platform:nodes"][0]["name"] = "CP_1"

    path = _write_stack(tmp_path, mutate)
    code, out, err = run_main(capsys, "--stack", "prod", "--stack-file", str(path))
    assert code == 1
    assert out == ""
    for key in ("network.vip", "nodes[1].ip", "talos_version", "nodes[0].name"):
        assert f"talos-platform:{key}: got" in err
    assert "Traceback" not in err


def test_secure_values_become_secret_placeholders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def mutate(config: dict) -> None:
        config["talos-platform:gitops_token"] = {"secure": "v1:AAAABBBBCCCC"}

    path = _write_stack(tmp_path, mutate)
    code, out, err = run_main(
        capsys, "--stack", "prod", "--stack-file", str(path), "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    repo_secret = [r for r in doc["resources"] if r["name"] == "argocd-repository"]
    assert len(repo_secret) == 1
    assert repo_secret[0]["inputs"]["stringData"] == "[secret]" or (
        repo_secret[0]["inputs"]["stringData"]["password"] == "[secret]"
    )
    assert "v1:AAAABBBBCCCC" not in out and "talos-platform:gitops_token" in err


def test_plain_text_secret_in_stack_file_is_rejected_unprinted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def mutate(config: dict) -> None:
        config["talos-platform:cloudflare_api_token"] = "s3cr3t-value"

    path = _write_stack(tmp_path, mutate)
    code, out, err = run_main(capsys, "--stack", "prod", "--stack-file", str(path))
    assert code == 1
    assert "talos-platform:cloudflare_api_token" in err and "--secret" in err
    assert "s3cr3t-value" not in out + err


def test_missing_stack_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "--stack", "qa", "--stack-file", str(tmp_path / "none.yaml"))
    assert code == 2
    assert "no such file" in err


def test_malformed_stack_file_is_invalid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config: [unclosed\n")
    code, _, err = run_main(capsys, "--stack", "dev", "--stack-file", str(path))
    assert code == 1
    assert "not valid YAML" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--stack", "dev", "--format", "yaml"])
    assert exc.value.code == 2


def test_command_line_entry_point_reports_without_traceback(tmp_path: Path) -> None:
    """The real `python -m offline.plan` process: exit status and stderr as a user sees them."""
    path = tmp_path / "Pulumi.dev.yaml"
    data = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    data["config"]["talos-platform:nodes"][0]["vm_id"] = 5
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        [sys.executable, "-m", "offline.plan", "--stack", "dev", "--stack-file", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "talos-platform:nodes[0].vm_id: got 5" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ssh_deploy_key_becomes_repository_credentials(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def mutate(config: dict) -> None:
        config["talos-platform:gitops"]["repo_url"] = (
            "git@github.com:example-org/talos-platform.git"
        )
        config["talos-platform:gitops_ssh_key"] = {"secure": "v1:SSHKEYCIPHERTEXT"}

    path = _write_stack(tmp_path, mutate)
    code, out, _ = run_main(
        capsys, "--stack", "prod", "--stack-file", str(path), "--format", "json"
    )
    doc = json.loads(out)
    (secret,) = [r for r in doc["resources"] if r["name"] == "argocd-repository"]
    assert secret["inputs"]["metadata"]["labels"] == {
        "argocd.argoproj.io/secret-type": "repository"
    }
    assert (
        "stringData" in secret["secret_inputs"]
        or "stringData.sshPrivateKey" in (secret["secret_inputs"])
    )
    assert "SSHKEYCIPHERTEXT" not in out
    # The repository differs from the tree's, so the plan's checks fail: exit 1, plan printed.
    assert code == 1


def test_token_for_an_ssh_url_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def mutate(config: dict) -> None:
        config["talos-platform:gitops"]["repo_url"] = (
            "git@github.com:example-org/talos-platform.git"
        )
        config["talos-platform:gitops_token"] = {"secure": "v1:TOKEN"}

    path = _write_stack(tmp_path, mutate)
    code, _, err = run_main(capsys, "--stack", "prod", "--stack-file", str(path))
    assert code == 1
    assert "talos-platform:gitops_token: got '[secret]'" in err and "gitops_ssh_key" in err


def test_two_plans_of_one_config_are_identical(capsys: pytest.CaptureFixture[str]) -> None:
    """The program registers asynchronously; the plan's order must not depend on it, or every
    pull-request diff would be noise."""
    outputs = []
    for _ in range(2):
        from offline.graph import plan_document
        from offline.run import run_program
        from offline.stackfile import read_stack_config

        values = read_stack_config("staging")
        doc = plan_document(run_program(values.values, values.secret_keys, "staging"))
        outputs.append(json.dumps(doc, sort_keys=False))
    assert outputs[0] == outputs[1]


def test_text_plan_ends_with_the_node_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--stack", "prod")
    assert code == 0
    table = out[out.index("node           role") :]
    rows = [line.split()[0] for line in table.splitlines()[1:] if line.startswith("prod-")]
    assert rows == [
        "prod-cp-1",
        "prod-cp-2",
        "prod-cp-3",
        "prod-worker-1",
        "prod-worker-2",
        "prod-worker-3",
    ]
    assert "allocatable: the VM's cores and memory less Talos's systemReserved" in table


def test_the_add_ons_are_checked_against_the_stack_file_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A --stack-file whose nodes the tree's kubelet-csr-approver would not approve, and whose
    datastore no StorageClass uses: the plan says so, naming the stack file."""

    def mutate(config: dict) -> None:
        config["talos-platform:nodes"][3]["name"] = "lab-worker-1"
        for host in config["talos-platform:proxmox"]["hosts"]:
            host["vm_datastore"] = "ceph"

    path = _write_stack(tmp_path, mutate)
    code, _, err = run_main(capsys, "--stack", "prod", "--stack-file", str(path))
    assert code == 1
    assert "lab-worker-1" in err
    assert "ceph" in err
    assert "Traceback" not in err
