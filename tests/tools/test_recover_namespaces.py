"""namespace-deleted: a namespace the Velero Schedule does not back up (etcd-backup, a namespace
of CronJobs; monitoring; cloudflared) gets no Velero step: pause, delete what Argo CD
recreated, `pulumi up --refresh --target` the program's objects in it, resume. No step waits
for pods with `kubectl wait --all` (a namespace without pods fails it, a finished Job's pod
never gets Ready). A failure while Argo CD's sync is on hold prints how to give it back. The
default backup is one started before the namespace was recreated."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.recover import SCENARIOS
from tools.recover.scenarios.velero_steps import newest_backup, pods_ready
from tools.recover.steps import subshell

from .recover_support import (
    Recorder,
    assert_known_urns,
    fake,
    printed_blocks,
    run,
    step_blocks,
    steps_text,
    urns_of,
)

ROOT_URN_NAME = "argocd-root"
PATCH = "kubectl -n argocd patch applications.argoproj.io {} --type merge"


def _program_objects(doc: dict[str, Any], namespace: str) -> set[str]:
    return {
        r["urn"]
        for r in doc["resources"]
        if r["type"].startswith("kubernetes:")
        and (r.get("inputs") or {}).get("metadata", {}).get("namespace") == namespace
    }


def _namespace_urn(doc: dict[str, Any], namespace: str) -> str:
    return next(
        r["urn"]
        for r in doc["resources"]
        if r["type"] == "kubernetes:core/v1:Namespace"
        and r["inputs"]["metadata"]["name"] == namespace
    )


@pytest.mark.parametrize(
    ("namespace", "chain"),
    [
        ("etcd-backup", ["root", "platform", "etcd-backup"]),
        ("monitoring", ["root", "platform", "kube-prometheus-stack", "monitoring-config"]),
        ("cloudflared", ["root"]),
    ],
)
def test_a_namespace_without_backup_gets_no_velero_step(
    capsys: pytest.CaptureFixture[str],
    prod_plan: Path,
    prod_doc: dict[str, Any],
    namespace: str,
    chain: list[str],
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", namespace,
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    assert "velero" not in re.sub(r"-n velero\b", "", commands.replace("velero.io", ""))
    assert "no Velero step" in out
    # pause, delete, the program's objects, resume: in that order.
    assert re.findall(r"patch applications\.argoproj\.io (\S+)", commands) == chain
    objects = _program_objects(prod_doc, namespace)
    assert objects, f"the program puts nothing in {namespace}?"
    namespace_urn = _namespace_urn(prod_doc, namespace)
    root = urns_of(prod_doc, "kubernetes:argoproj.io/v1alpha1:Application")[ROOT_URN_NAME]
    assert assert_known_urns(commands, prod_doc) == {namespace_urn, *objects, root}
    order = [
        commands.index(PATCH.format("root")),
        commands.index(f"kubectl delete namespace {namespace}"),
        commands.index(f"--target '{namespace_urn}'"),
        commands.index(f"--target '{root}'"),
    ]
    assert order == sorted(order)
    titles = [title for title, _ in step_blocks(out)]
    assert not [t for t in titles if re.match(r"Step \d+\. (Restore|Choose the backup)", t)]


def test_cloudflared_s_deployment_comes_back_with_its_namespace(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    # Not only Secrets and ConfigMaps: the program's Deployment, Service and PDB live there.
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "cloudflared",
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    for name in ("cloudflared-deployment", "cloudflared-metrics", "cloudflared-pdb"):
        urn = next(r["urn"] for r in prod_doc["resources"] if r["name"] == name)
        assert f"--target '{urn}'" in commands


def test_a_namespace_nothing_gives_back_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, err = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "scratch",
    )  # fmt: skip
    assert code == 2 and not out
    assert "nothing gives scratch back" in err and "--backup NAME" in err


def test_a_given_backup_restores_a_namespace_the_schedule_does_not_hold(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "monitoring", "--backup", "old-monitoring",
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    assert 'name="restore-monitoring-$(date -u +%Y%m%d%H%M%S)"' in commands
    assert 'velero -n velero restore create "$name"' in commands
    pick = next(c for title, c in step_blocks(out) if title.endswith("from"))
    # The check: the given backup is Completed and holds the namespace.
    assert "backup=old-monitoring" in pick and "index($ns)" in pick
    assert "the backup given must (checked)" in out


@pytest.mark.parametrize(
    "argv",
    [
        [scenario, *extra]
        for scenario in sorted(SCENARIOS)
        for extra in (
            [["--namespace", "podinfo"], ["--namespace", "etcd-backup"]]
            if scenario == "namespace-deleted"
            else [[], ["--volumes-lost"]]
            if scenario in ("worker-lost", "control-plane-lost")
            else [[]]
        )
    ],
)
def test_no_step_waits_for_all_pods_with_kubectl_wait(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, argv: list[str]
) -> None:
    code, out, _ = run(capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", *argv)
    assert code == 0
    assert not re.search(r"kubectl .*wait .*\bpods?\b", steps_text(out))


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
@pytest.mark.parametrize(
    ("pods", "ready"),
    [
        ([], True),  # a namespace of CronJobs between two runs
        ([("Succeeded", "False"), ("Running", "True")], True),  # a finished Job's pod
        ([("Running", "True"), ("Running", "False")], False),
        ([("Pending", None)], False),
    ],
)
def test_the_pods_check_passes_with_no_pods_and_skips_finished_ones(
    tmp_path: Path, pods: list[tuple[str, str | None]], ready: bool
) -> None:
    items = [
        {
            "status": {
                "phase": phase,
                **({"conditions": [{"type": "Ready", "status": cond}]} if cond else {}),
            }
        }
        for phase, cond in pods
    ]
    (tmp_path / "pods.json").write_text(json.dumps({"items": items}))
    fake(tmp_path / "bin", "kubectl", f'cat "{tmp_path}/pods.json"\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(["/bin/sh", "-c", subshell(pods_ready("etcd-backup"))], env=env)
    assert (done.returncode == 0) is ready


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_default_backup_started_before_the_namespace_came_back(tmp_path: Path) -> None:
    # podinfo was deleted on 4 May at 01:30 and Argo CD recreated it at once: the 03:00 backup
    # holds its new, empty volume. The one to restore is 3 May's.
    backups = {
        "items": [
            {
                "metadata": {"name": name},
                "spec": {"includedNamespaces": namespaces},
                "status": {
                    "phase": phase,
                    "startTimestamp": started,
                    "progress": {"itemsBackedUp": 12},
                },
            }
            for name, namespaces, phase, started in [
                ("velero-volumes-20260502030000", ["podinfo"], "Completed", "2026-05-02T03:00:00Z"),
                ("velero-volumes-20260503030000", ["podinfo"], "Completed", "2026-05-03T03:00:00Z"),
                ("velero-volumes-20260503150000", ["other"], "Completed", "2026-05-03T15:00:00Z"),
                ("velero-volumes-20260503200000", ["podinfo"], "Failed", "2026-05-03T20:00:00Z"),
                ("velero-volumes-20260504030000", ["podinfo"], "Completed", "2026-05-04T03:00:00Z"),
            ]
        ]
    }
    (tmp_path / "backups.json").write_text(json.dumps(backups))
    fake(tmp_path / "bin", "kubectl", f'cat "{tmp_path}/backups.json"\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    script = newest_backup("velero-volumes", "podinfo", '"$created"') + '\necho "$backup"'
    for created, expected in [
        ("2026-05-04T01:30:00Z", "velero-volumes-20260503030000"),
        ("", "velero-volumes-20260504030000"),  # not recreated: no bound
        ("2026-05-01T00:00:00Z", ""),
    ]:
        done = subprocess.run(
            ["/bin/sh", "-c", subshell(f"created={created!r}\n{script}")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected, created


def test_the_pick_step_bounds_the_backup_by_the_namespace_s_creation(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo",
    )  # fmt: skip
    assert code == 0
    pick = next(c for title, c in step_blocks(out) if title.endswith("podinfo from"))
    assert "jsonpath='{.metadata.creationTimestamp}'" in pick
    assert '--arg a "$created"' in pick and '--arg before "$before"' in pick


# --- Argo CD's sync on hold ---------------------------------------------------------------


RESUME = "Argo CD's sync of root, podinfo is on hold: give it back with"


@pytest.mark.parametrize(
    ("fail", "held"),
    [
        ("pulumi stack output", False),  # step 1: nothing paused yet
        ('"spec":{"syncPolicy":{"automated":null}}', True),  # the pause itself, half done
        ("velero restore create", True),
        ("kubectl delete namespace podinfo", True),
        ("get pvc,pods", False),  # after the resume
    ],
)
def test_a_failure_while_sync_is_on_hold_prints_how_to_resume_it(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, fail: str, held: bool
) -> None:
    world = Recorder(fail=fail)
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo", "--run", "--yes", executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    tail = out[out.index("FAILED") :]
    assert (RESUME in tail) is held
    if held:
        assert "pulumi up --stack prod \\\n      --refresh \\\n      --target" in tail


def test_a_failure_in_the_no_backup_procedure_prints_how_to_resume(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder(fail="backup-etcd-backup-namespace")
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "etcd-backup", "--run", "--yes", executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    assert "Argo CD's sync of root, platform, etcd-backup is on hold" in out[out.index("FAILED") :]


def test_the_printout_says_between_which_steps_sync_is_on_hold(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo",
    )  # fmt: skip
    assert code == 0
    titles = [title for title, _ in step_blocks(out)]
    pause = next(i for i, t in enumerate(titles, 1) if "Stop Argo CD syncing" in t)
    resume = next(i for i, t in enumerate(titles, 1) if "Let Argo CD sync again" in t)
    assert f"from step {pause} to step {resume}: {RESUME}" in out
    # The undo printed is the command of the resume step itself.
    resume_run = printed_blocks(out)[2 * (resume - 1)]
    assert resume_run.startswith("( set -eu\npulumi up --stack prod")
    assert resume_run[len("( set -eu\n") : -2] in out.split("If you stop")[1].replace(
        "\n    ", "\n"
    )


def test_keep_paused_leaves_sync_on_hold_and_says_so(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo", "--backup", "b", "--keep-paused",
    )  # fmt: skip
    assert code == 0
    assert "Let Argo CD sync again" not in out
    assert "(still so at the end)" in out and "--keep-paused" in out
    code, _, err = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "quorum-lost",
        "--keep-paused",
    )  # fmt: skip
    assert code == 2 and "--keep-paused goes with --scenario namespace-deleted" in err
