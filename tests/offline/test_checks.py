"""The plan's checks against upstream schemas: clean for the shipped stacks, and each kind of
mistake caught with a message that names where it is."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from offline.paths import REPO_ROOT
from offline.plan import main
from offline.validators.checks import run_checks
from tests.conftest import STACKS, document

K8S = "v1.36.2"


def resource(doc: dict, name: str) -> dict:
    """The resource (not the component of the same name) called `name`."""
    return next(
        r
        for r in doc["resources"]
        if r["name"] == name and not r["type"].startswith("talos-platform:")
    )


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass_every_check(stack: str) -> None:
    result = run_checks(document(stack), K8S)
    assert result.problems == []
    assert result.notes == []


def test_misspelled_helm_value_key_is_named() -> None:
    doc = copy.deepcopy(document("prod"))
    resource(doc, "argocd")["inputs"]["values"]["server"]["replicaz"] = 3
    problems = run_checks(doc, K8S).problems
    assert any("Helm value `server.replicaz`" in p for p in problems)


def test_invalid_kubernetes_object_is_named_with_its_field() -> None:
    doc = copy.deepcopy(document("prod"))
    container = resource(doc, "cloudflared-deployment")["inputs"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    container["imagePullPolicyy"] = "Always"
    problems = run_checks(doc, K8S).problems
    assert any("cloudflared-deployment" in p and "imagePullPolicyy" in p for p in problems)


def test_invalid_argocd_object_is_caught() -> None:
    doc = copy.deepcopy(document("staging"))
    resource(doc, "argocd-root")["inputs"]["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    problems = run_checks(doc, K8S).problems
    assert any("argocd-root" in p and "selfheal" in p for p in problems)


def test_invalid_talos_document_is_reported_by_node_and_kind() -> None:
    doc = copy.deepcopy(document("prod"))
    call = next(
        i for i in doc["invokes"] if i["token"] == "talos:machine/getConfiguration:getConfiguration"
    )
    patches = [yaml.safe_load(p) for p in call["args"]["configPatches"]]
    link = next(p for p in patches if p.get("kind") == "LinkConfig")
    link["mtu"] = "jumbo"
    call["args"]["configPatches"] = [yaml.safe_dump(p) for p in patches]
    hostname = next(p["hostname"] for p in patches if p.get("kind") == "HostnameConfig")
    problems = run_checks(doc, K8S).problems
    assert any(p.startswith(f"node {hostname}: LinkConfig at mtu") for p in problems)


def test_stack_pointing_at_another_repository_fails(tmp_path: Path, capsys) -> None:
    data = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    data["config"]["talos-platform:gitops"]["repo_url"] = "https://git.example.com/other.git"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    code = main(["--stack", "dev", "--stack-file", str(path), "--format", "json"])
    err = capsys.readouterr().err
    assert code == 1
    assert "talos-platform:gitops.repo_url: got 'https://git.example.com/other.git'" in err


def test_plan_fails_on_a_mandatory_policy_violation(monkeypatch, capsys) -> None:
    """A prod graph whose VMs lost their protection: the plan prints and exits 1."""
    import offline.plan as plan_module

    real = plan_module.run_program

    def unprotected(*args, **kwargs):
        run = copy.deepcopy(real(*args, **kwargs))
        for registration in run.registrations:
            if registration.type == "proxmoxve:index/vmLegacy:VmLegacy":
                registration.protect = False
        return run

    monkeypatch.setattr(plan_module, "run_program", unprotected)
    code = main(["--stack", "prod"])
    captured = capsys.readouterr()
    assert code == 1
    assert "stack prod:" in captured.out
    assert "mandatory" in captured.err and "VmLegacy" in captured.err
