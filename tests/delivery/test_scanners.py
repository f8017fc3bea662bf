"""checkov over every object the stacks put in their clusters and over the workflows, against
the reviewed baseline (.checkov-baseline.yaml; docs/supply-chain.md, "Scanners").

The objects of dev, staging and prod are written once, alike objects deduplicated
(`offline.scan.files`), and one checkov process scans them and the workflows (about 6 s). The
test fails on a finding that is neither fixed nor skipped, on a skip without a reason and on a
skip that no finding needs any more. checkov lives in its own venv (.venv/scan, from
requirements-scan.txt, made by .ci/run): without it the scans skip, except in CI.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.scan import baseline, checkov, files
from offline.scan.checkov import Finding
from offline.scan.objects import STACKS, StackObject, doc_manifests
from tests.conftest import NS, document, stack_values

WORKFLOWS = sorted(checkov.WORKFLOWS.glob("*.yml"))
#: Kinds checkov's graph checks (CKV2_K8S_*) join workloads with: a pod without a NetworkPolicy
#: selecting it fails CKV2_K8S_6, and the RBAC checks follow bindings to their subjects.
GRAPH_KINDS = frozenset(
    {"NetworkPolicy", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
)


def require_checkov() -> Path:
    """Skip without checkov outside CI (.ci/run installs it in .venv/scan); fail in CI."""
    found = checkov.executable()
    if found is None:
        message = "checkov not found: install requirements-scan.txt into .venv/scan"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def stack_objects() -> dict[str, list[StackObject]]:
    """Every stack's objects, from the program runs the other tests share (tests/conftest.py)."""
    found = {}
    for stack in STACKS:
        version = stack_values(stack)[0].get(f"{NS}:kubernetes_version", "")
        found[stack] = doc_manifests(document(stack), version)
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[StackObject]]:
    return stack_objects()


@pytest.fixture(scope="module")
def reports(
    rendered: dict[str, list[StackObject]], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    """checkov's reports over the objects as rendered (no skips) and the workflows."""
    executable = require_checkov()
    out = tmp_path_factory.mktemp("scan") / "objects"
    files.write(rendered, out)
    return checkov.run(executable, out, WORKFLOWS)


@pytest.fixture(scope="module")
def failed(reports: list[dict[str, Any]]) -> list[Finding]:
    return checkov.findings(reports)


def test_both_frameworks_scanned_something(reports: list[dict[str, Any]]) -> None:
    summaries = {r["check_type"]: r["summary"] for r in reports}
    assert set(summaries) == set(checkov.FRAMEWORKS)
    assert summaries["kubernetes"]["resource_count"] > 200
    assert summaries["github_actions"]["passed"] > 0
    assert all(s["parsing_errors"] == 0 for s in summaries.values())


def test_every_finding_is_fixed_or_in_the_baseline(failed: list[Finding]) -> None:
    missing = checkov.unbaselined(failed, baseline.load())
    assert [str(f) for f in missing] == [], "fix these, or skip each in .checkov-baseline.yaml"


def test_no_skip_is_stale(failed: list[Finding]) -> None:
    assert checkov.stale(failed, baseline.load()) == []


def test_every_skip_has_a_one_line_reason() -> None:
    assert baseline.entry_problems(baseline.load()) == []


def test_every_inline_workflow_skip_has_a_reason() -> None:
    """checkov's inline skip in a workflow: `# checkov:skip=<id>:<reason>`."""
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV\w+:\s*\S.{9,}", line), f"{path.name}:{number}"


def test_the_skips_reach_checkov_as_annotations(
    rendered: dict[str, list[StackObject]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What .github/workflows/scan.yml runs: the objects written with the baseline's skips
    (`python -m offline.scan --skips`) leave checkov nothing to report. Only the objects with
    skips of their own (the everywhere skips ride along on them) and what checkov's graph
    checks relate them to (NetworkPolicies, RBAC), to keep it short."""
    executable = require_checkov()
    skips = baseline.load()
    selected = {
        stack: [
            o
            for o in objects
            if baseline.resource_id(o.manifest) in skips.objects
            or o.manifest.get("kind") in GRAPH_KINDS
        ]
        for stack, objects in rendered.items()
    }
    out = tmp_path_factory.mktemp("annotated") / "objects"
    files.write(selected, out, lambda m: baseline.annotated(m, skips))
    reports = checkov.run(executable, out, [])
    [kubernetes] = reports
    # Every skip of these objects was applied (once per variant of an object, at least once).
    assert kubernetes["summary"]["skipped"] >= sum(map(len, skips.objects.values()))
    assert kubernetes["summary"]["resource_count"] >= len(skips.objects)
    assert [str(f) for f in checkov.findings(reports)] == []


# --- The pieces, on small inputs (no checkov) ---------------------------------------------------

SAMPLE = baseline.parse(
    {
        "everywhere": {"CKV_K8S_15": "pinned images, IfNotPresent"},
        "objects": {"DaemonSet.kube-system.cilium": {"CKV_K8S_19": "the CNI uses the host net"}},
    }
)


def finding(check: str, resource: str) -> Finding:
    return Finding(check, resource, "kube-system/DaemonSet-cilium.yaml")


def test_a_finding_outside_the_baseline_is_reported_and_one_inside_is_not() -> None:
    found = [
        finding("CKV_K8S_15", "Deployment.argocd.argocd-server"),
        finding("CKV_K8S_19", "DaemonSet.kube-system.cilium"),
        finding("CKV_K8S_19", "DaemonSet.node-exporter.node-exporter"),
    ]
    assert checkov.unbaselined(found, SAMPLE) == [found[2]]


def test_a_skip_no_finding_needs_is_stale() -> None:
    assert checkov.stale([finding("CKV_K8S_15", "Pod.x.y")], SAMPLE) == [
        "DaemonSet.kube-system.cilium: CKV_K8S_19: no longer fails"
    ]
    assert checkov.stale([finding("CKV_K8S_19", "DaemonSet.kube-system.cilium")], SAMPLE) == [
        "everywhere: CKV_K8S_15"
    ]


def test_a_skip_without_a_proper_reason_is_refused() -> None:
    bad = baseline.parse(
        {
            "everywhere": {"CKV_K8S_15": None, "CKV_K8S_43": "short"},
            "objects": {"Pod.a.b": {"CKV_K8S_8": "a=b is split by checkov", "K8S_9": "x" * 20}},
        }
    )
    problems = baseline.entry_problems(bad)
    assert len(problems) == 4, problems
    assert baseline.entry_problems(SAMPLE) == []
    with pytest.raises(baseline.BaselineError):
        baseline.parse({"skip-check": ["CKV_K8S_15"]})


def test_annotations_carry_every_skip_of_the_object() -> None:
    manifest = {
        "kind": "DaemonSet",
        "metadata": {"name": "cilium", "namespace": "kube-system", "annotations": {"a": "b"}},
    }
    annotations = baseline.annotated(manifest, SAMPLE)["metadata"]["annotations"]
    assert annotations == {
        "a": "b",
        "checkov.io/skip1": "CKV_K8S_15=pinned images, IfNotPresent",
        "checkov.io/skip2": "CKV_K8S_19=the CNI uses the host net",
    }
    assert "annotations" not in baseline.annotated({"kind": "Pod"}, SAMPLE).get("metadata", {})
    assert baseline.resource_id({"kind": "ClusterRole", "metadata": {"name": "x"}}) == (
        "ClusterRole.default.x"
    )


def test_objects_alike_in_several_stacks_are_written_once(tmp_path: Path) -> None:
    def obj(replicas: int) -> StackObject:
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "app"},
            "spec": {"replicas": replicas},
        }
        return StackObject(manifest, "gitops/apps/web")

    role = StackObject({"kind": "ClusterRole", "metadata": {"name": "r"}}, "release x")
    written = files.write(
        {"dev": [obj(1), role], "staging": [obj(1), role], "prod": [obj(2), role]}, tmp_path
    )
    assert sorted(map(str, written)) == [
        "_cluster/ClusterRole-r.yaml",
        "app/Deployment-web.dev+staging.yaml",
        "app/Deployment-web.prod.yaml",
    ]
    text = (tmp_path / "app/Deployment-web.prod.yaml").read_text()
    assert text.startswith("# stacks: prod\n# source: gitops/apps/web\n")
    assert yaml.safe_load(text)["spec"] == {"replicas": 2}


def test_namespaced_objects_get_the_namespace_they_land_in(
    rendered: dict[str, list[StackObject]],
) -> None:
    """A chart object without a namespace would read as `default` to checkov."""
    from offline.validators.gitops.tree import CLUSTER_SCOPED_KINDS

    for stack, objects in rendered.items():
        for obj in objects:
            if obj.manifest.get("kind") not in CLUSTER_SCOPED_KINDS:
                metadata = obj.manifest.get("metadata") or {}
                assert metadata.get("namespace"), f"{stack}: {obj.source}: {metadata.get('name')}"


# --- .github/workflows/scan.yml --------------------------------------------------------------


def test_the_scan_workflow_runs_both_scanners_and_uploads_only_where_it_may() -> None:
    data = yaml.safe_load((checkov.WORKFLOWS / "scan.yml").read_text())
    on = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    assert set(on) == {"pull_request", "push", "schedule"}
    assert on["push"] == {"branches": ["main"]}
    jobs = data["jobs"]
    assert set(jobs) == {"checkov", "pip-audit"}
    for name, job in jobs.items():
        assert job["permissions"] == {
            "contents": "read",
            "security-events": "write",
            "actions": "read",
        }, name
        [upload] = [s for s in job["steps"] if "upload-sarif" in s.get("uses", "")]
        # A fork's pull request has no token that may upload: the step is skipped there.
        assert (
            "github.event.pull_request.head.repo.full_name == github.repository" in (upload["if"])
        ), name
        assert upload["with"]["category"] == name
        assert upload["with"]["sarif_file"] in upload["if"], name
        # Uploaded after a failing scan too: `!cancelled()` replaces the default `success()`.
        assert upload["if"].startswith("${{ !cancelled() &&"), name
        assert job["steps"][-1] is upload, name
    run = "\n".join(s.get("run", "") for s in jobs["checkov"]["steps"])
    assert "python -m offline.scan --out build/scan --skips" in run
    assert "--framework kubernetes github_actions" in run and "-o sarif" in run
    audit = "\n".join(s.get("run", "") for s in jobs["pip-audit"]["steps"])
    # No --strict: pip-audit 2.10.1 would exit at a skipped package before writing its report.
    assert "--strict" not in audit and "python -m tools.pip_audit_sarif" in audit
    for requirements in (
        "requirements-dev.txt",
        "policy/requirements.txt",
        "requirements-scan.txt",
    ):
        assert requirements in audit


def test_the_scanners_are_pinned_exactly() -> None:
    pins = [
        line.split("#")[0].strip()
        for line in (checkov.REPO_ROOT / "requirements-scan.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.]*", p) for p in pins)
    assert {p.split("==")[0] for p in pins} == {"checkov", "pip-audit"}
