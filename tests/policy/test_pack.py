"""The pack as the Pulumi CLI loads it, and the offline check as a command."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from offline.paths import REPO_ROOT
from offline.validators import policy_check

from .graphs import DNS_RECORD, SECRET, of_type, one, recorded_plan

PACK_DIR = REPO_ROOT / "policy"


def test_main_builds_one_mandatory_pack_of_every_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []

    def fake_pack(name: str, **kwargs: Any) -> None:  # the real one serves gRPC forever
        built.append({"name": name, **kwargs})

    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "rules", raising=False)
    runpy.run_path(str(PACK_DIR / "__main__.py"), run_name="__main__")
    monkeypatch.delitem(sys.modules, "rules", raising=False)
    [pack] = built
    assert pack["name"] == "talos-platform"
    assert pack["enforcement_level"] == EnforcementLevel.MANDATORY
    names = [p.name for p in pack["policies"]]
    assert names == [p.name for p in policy_check.rules().POLICIES]
    assert {
        "protected-in-prod",
        "control-plane-quorum",
        "no-exposed-services",
        "no-host-ports",
        "pinned-images",
        "dns-proxied",
        "admin-behind-access",
        "argocd-automated-sync",
        "secrets-not-plain",
    } <= set(names)


def test_pack_files_pin_the_sdk() -> None:
    requirements = (PACK_DIR / "requirements.txt").read_text().split()
    assert "pulumi-policy==1.21.0" in requirements and "pulumi==3.272.0" in requirements
    assert "runtime:\n  name: python" in (PACK_DIR / "PulumiPolicy.yaml").read_text()


def test_in_a_real_run_the_secret_rule_says_why_it_cannot_judge() -> None:
    rules = policy_check.rules()
    doc = recorded_plan("dev")
    secret = one(doc, SECRET, "cloudflared-token")
    args = ResourceValidationArgs(
        secret["type"], {"stringData": {"token": "x"}}, secret["urn"], secret["name"], None, None
    )
    with pytest.raises(Exception) as caught:  # noqa: PT011 (the SDK's private error type)
        rules.validate_secrets_marked(args, lambda *_: pytest.fail("reported"))
    assert type(caught.value).__name__ == "_NotApplicableError"
    assert "unwraps secret values before a policy sees them" in caught.value.reason


def test_environment_falls_back_to_the_stack_in_the_urn_then_prod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = policy_check.rules()
    # Outside the engine there is no stack config (the mock runs of other tests leave some).
    # `environment_of` reads it through its own module (policy/reading.py), so patch it there.
    reading = sys.modules[rules.environment_of.__module__]
    monkeypatch.setattr(reading, "_runtime_environment", lambda: None)
    urn = "urn:pulumi:staging::talos-platform::proxmoxve:index/vmLegacy:VmLegacy::x"
    assert rules.environment_of({}, urn) == "staging"
    assert rules.environment_of({"environment": "dev"}, urn) == "dev"
    assert rules.environment_of({}, urn.replace(":staging:", ":eu-1:")) == "prod"


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="environment 'qa': expected one of dev, staging, prod"):
        policy_check.policy_violations(recorded_plan("dev"), "qa")


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    return path


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = recorded_plan("dev")
    assert policy_check.main([str(_write(tmp_path, doc))]) == 0
    out, err = capsys.readouterr()
    assert "(mandatory)" not in out and ", 0 mandatory" in err

    of_type(doc, DNS_RECORD)[0]["inputs"]["proxied"] = False
    assert policy_check.main([str(_write(tmp_path, doc))]) == 1
    out, err = capsys.readouterr()
    assert "policy dns-proxied (mandatory): DnsRecord" in out
    assert "1 mandatory" in err

    assert policy_check.main([str(_write(tmp_path, {"resources": []}))]) == 1
    assert "not a plan document: missing `project`, `stack`" in capsys.readouterr().err
    assert policy_check.main([str(tmp_path / "absent.json")]) == 2
    assert "absent.json: cannot be read" in capsys.readouterr().err
