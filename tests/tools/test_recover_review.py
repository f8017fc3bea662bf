"""The second operator review of `python -m tools.recover` (issue 14): a backup with no item or
no volume data is never chosen, an absent namespace needs --deleted-at or --backup, every velero
command names its namespace, a restore block can be pasted twice, the steps that run the tool
say they need the .venv, no printed command line carries a comment, a namespace no backup holds
keeps everything but its lost claims, and the program's objects (every Secret) come back before
a restore."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.recover import facts_of, procedure
from tools.recover.facts import ProgramNamespace
from tools.recover.scenarios.common import Options
from tools.recover.scenarios.namespace_deleted import pick_step, restore_step
from tools.recover.scenarios.velero_steps import claims_restored, lost_claims, newest_backup
from tools.recover.steps import subshell

from .conftest import STACKS
from .recover_support import fake, run, step_blocks
from .test_recover_paste import VARIANTS, _argv

needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
REPO = Path(__file__).resolve().parents[2]


def _outputs(stack_plans: dict[str, Path]) -> list[tuple[str, str]]:
    """(what, printout) of every scenario variant of every stack."""
    found = []
    for stack in STACKS:
        nodes = json.loads(stack_plans[stack].read_text())["outputs"]["nodes"]
        roles: dict[str, list[str]] = {"worker": [], "controlplane": []}
        for name, node in nodes.items():
            roles[node["role"]].append(name)
        for scenario, variants in VARIANTS.items():
            for variant in variants:
                argv = _argv(stack, roles, variant)
                if argv is None:
                    continue
                import contextlib
                import io

                from tools.recover.__main__ import main

                buffer = io.StringIO()
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
                    code = main(
                        ["--stack", stack, "--plan", str(stack_plans[stack]), "--scenario",
                         scenario, *argv]
                    )  # fmt: skip
                if code == 0:
                    found.append((f"{stack} {scenario} {' '.join(argv)}", buffer.getvalue()))
    assert len(found) > 20
    return found


def _sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", subshell(script)], env=env, capture_output=True, text=True
    )


# --- 1. an empty backup is never chosen -----------------------------------------------------


def _backup(name: str, started: str, items: int, namespaces: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"includedNamespaces": namespaces},
        "status": {
            "phase": "Completed",
            "startTimestamp": started,
            "expiration": "x",
            "progress": {"itemsBackedUp": items, "totalItems": items},
        },
    }


def _pvb(backup: str, namespace: str, claim: bool = True, phase: str = "Completed") -> dict:
    labels = {"velero.io/backup-name": backup}
    if claim:
        labels["velero.io/pvc-uid"] = "uid"
    return {
        "metadata": {"labels": labels},
        "spec": {"pod": {"namespace": namespace, "name": "redis-0"}},
        "status": {"phase": phase},
    }


BACKUPS = [
    _backup("velero-volumes-20260502030000", "2026-05-02T03:00:00Z", 40, ["podinfo", "other"]),
    _backup("velero-volumes-20260503030000", "2026-05-03T03:00:00Z", 40, ["podinfo", "other"]),
    # podinfo's pods did not run: the other namespace's items only, no podinfo volume.
    _backup("velero-volumes-20260503150000", "2026-05-03T15:00:00Z", 20, ["podinfo", "other"]),
    # podinfo deleted at 01:30 and not recreated: Completed, nothing in it.
    _backup("velero-volumes-20260504030000", "2026-05-04T03:00:00Z", 0, ["podinfo"]),
]
PVBS = [
    _pvb("velero-volumes-20260502030000", "podinfo"),
    _pvb("velero-volumes-20260503030000", "podinfo"),
    _pvb("velero-volumes-20260503150000", "podinfo", claim=False),  # an emptyDir
    _pvb("velero-volumes-20260503150000", "other"),
    _pvb("velero-volumes-20260504030000", "podinfo", phase="Failed"),
]


def _velero_world(tmp_path: Path, namespace_created: str = "") -> dict[str, str]:
    (tmp_path / "backups.json").write_text(json.dumps({"items": BACKUPS}))
    (tmp_path / "pvbs.json").write_text(json.dumps({"items": PVBS}))
    created = f"echo {namespace_created}" if namespace_created else "exit 1"
    fake(
        tmp_path / "bin",
        "kubectl",
        'case "$*" in\n'
        f'  *"get namespace"*) {created} ;;\n'
        f'  *podvolumebackups*) cat "{tmp_path}/pvbs.json" ;;\n'
        f'  *"get backups.velero.io -l"*) cat "{tmp_path}/backups.json" ;;\n'
        "  *) ;;\n"
        "esac\n",
    )
    return {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "RECOVER_DIR": str(tmp_path),
    }


@needs_jq
def test_a_backup_without_items_or_volume_data_is_never_chosen(tmp_path: Path) -> None:
    env = _velero_world(tmp_path)
    script = newest_backup("velero-volumes", "podinfo", '""', volumes=True) + '\necho "$backup"'
    done = _sh(script, env)
    assert done.returncode == 0, done.stderr
    # Not 4 May's (no item), not 3 May 15:00's (no volume data of podinfo's claims).
    assert done.stdout.strip() == "velero-volumes-20260503030000"
    # Without the volume data rule, still never the backup with no item.
    script = newest_backup("velero-volumes", "podinfo", '""') + '\necho "$backup"'
    assert _sh(script, env).stdout.strip() == "velero-volumes-20260503150000"
    # A namespace no backup holds volume data of: any backup with items.
    script = newest_backup("velero-volumes", "other", '""', volumes=True) + '\necho "$backup"'
    done = _sh(script, env)
    assert done.stdout.strip() == "velero-volumes-20260503150000", done.stderr


@needs_jq
@pytest.mark.parametrize(
    ("created", "deleted_at", "expected"),
    [
        ("", None, None),  # not there, no time: refuses
        ("", "2026-05-03T01:00:00Z", "velero-volumes-20260502030000"),
        ("2026-05-04T01:31:00Z", None, "velero-volumes-20260503030000"),
        ("2026-05-04T01:31:00Z", "2026-05-02T12:00:00Z", "velero-volumes-20260502030000"),
    ],
)
def test_an_absent_namespace_needs_a_deletion_time_or_a_backup(
    tmp_path: Path, created: str, deleted_at: str | None, expected: str | None
) -> None:
    env = _velero_world(tmp_path, created)
    step = pick_step(
        "podinfo", "velero-volumes", Options(deleted_at=deleted_at), '"$RECOVER_DIR/b"'
    )
    done = _sh(step.run, env)
    if expected is None:
        assert done.returncode == 1
        assert "--deleted-at" in done.stderr and "--backup NAME" in done.stderr
        assert not (tmp_path / "b").exists()
    else:
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "b").read_text().strip() == expected


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["--deleted-at", "2026-05-04T03:30:00+02:00"], 0, 'deleted="2026-05-04T01:30:00Z"'),
        (["--deleted-at", "2026-05-04T01:30:00Z"], 0, 'deleted="2026-05-04T01:30:00Z"'),
        (["--deleted-at", "2026-05-04T01:30:00"], 2, "RFC 3339"),
        (["--deleted-at", "yesterday"], 2, "RFC 3339"),
        (["--deleted-at", "2026-05-04T01:30:00Z", "--backup", "b"], 2, "not with --backup"),
    ],
)
def test_deleted_at_is_an_rfc_3339_time_in_utc(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, argv: list[str], code: int, words: str
) -> None:
    got, out, err = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo", *argv,
    )  # fmt: skip
    assert got == code
    assert words in (out if code == 0 else err)
    got, _, err = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "cluster-lost",
        "--deleted-at", "2026-05-04T01:30:00Z",
    )  # fmt: skip
    assert got == 2 and "--deleted-at goes with --scenario namespace-deleted" in err


@needs_jq
@pytest.mark.parametrize(
    ("pvbs", "claims", "passes"),
    [
        ([_pvb("b", "podinfo")], 0, False),  # the backup had volume data: a claim must be back
        ([_pvb("b", "podinfo")], 1, True),
        ([_pvb("b", "podinfo", claim=False)], 0, True),  # an emptyDir only
        ([], 0, True),  # a namespace without volumes
    ],
)
def test_the_restore_check_fails_when_the_claims_did_not_come_back(
    tmp_path: Path, pvbs: list[dict], claims: int, passes: bool
) -> None:
    (tmp_path / "pvbs.json").write_text(json.dumps({"items": pvbs}))
    pvc = {"items": [{"status": {"phase": "Bound"}}] * claims}
    (tmp_path / "pvc.json").write_text(json.dumps(pvc))
    fake(
        tmp_path / "bin",
        "kubectl",
        'case "$*" in\n'
        f'  *"-l velero.io/backup-name=b "*) cat "{tmp_path}/pvbs.json" ;;\n'
        f'  *"get pvc"*) cat "{tmp_path}/pvc.json" ;;\n'
        "  *) exit 9 ;;\n"
        "esac\n",
    )
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    done = _sh(claims_restored("podinfo", "b"), env)
    assert (done.returncode == 0) is passes, done.stderr


# --- 2. every velero command names its namespace ---------------------------------------------


def test_every_velero_command_names_the_velero_namespace(stack_plans: dict[str, Path]) -> None:
    bare = re.compile(r"(?<!-n )\bvelero (backup|restore|schedule) ")
    named = 0
    for what, out in _outputs(stack_plans):
        assert not [m.group(0) for m in bare.finditer(out)], what
        named += len(re.findall(r"\bvelero -n velero (backup|restore|schedule) ", out))
    assert named
    docs = (REPO / "docs/recovery.md").read_text()
    assert not bare.findall(docs)


# --- 3. a restore block pasted twice ---------------------------------------------------------


def test_the_printout_is_the_same_at_any_time(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    argv = ["--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
            "--namespace", "podinfo"]  # fmt: skip
    first, second = run(capsys, *argv), run(capsys, *argv)
    assert first == second
    assert not re.search(r"restore-podinfo-\d", first[1])


@needs_jq
def test_the_restore_is_named_when_it_runs_and_the_check_reads_that_name(tmp_path: Path) -> None:
    step = restore_step("podinfo", '"$RECOVER_DIR/backup-podinfo"', program=False)
    (tmp_path / "backup-podinfo").write_text("velero-volumes-20260503030000\n")
    fake(tmp_path / "bin", "velero", f'echo "$*" >> "{tmp_path}/velero.log"\n')
    # Velero knows the restores it was asked to create, by name.
    fake(
        tmp_path / "bin",
        "kubectl",
        'case "$*" in\n'
        '  *"get restores.velero.io "*)\n'
        f'    grep -q "restore create $5 " "{tmp_path}/velero.log" && echo Completed ;;\n'
        "  *podvolumebackups*) echo '{\"items\": []}' ;;\n"
        '  *"get pvc"*) echo \'{"items": [{"status": {"phase": "Bound"}}]}\' ;;\n'
        "  *) exit 9 ;;\n"
        "esac\n",
    )
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "RECOVER_DIR": str(tmp_path),
    }
    for _ in range(2):  # pasted twice: each run names its own restore
        done = _sh(step.run, env)
        assert done.returncode == 0, done.stderr
        name = (tmp_path / "restore-podinfo").read_text().strip()
        assert re.fullmatch(r"restore-podinfo-\d{14}", name)
        assert _sh(step.check, env).returncode == 0
    calls = (tmp_path / "velero.log").read_text().splitlines()
    assert calls[-1].startswith(f"-n velero restore create {name} --from-backup ")
    (tmp_path / "restore-podinfo").write_text("restore-podinfo-19700101000000\n")
    assert _sh(step.check, env).returncode != 0


# --- 4, 5. the .venv, and no comment on a command line ---------------------------------------


def _unquoted_comment(line: str) -> bool:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote and not (quote == '"' and line[i - 1] == "\\"):
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t;(|&"):
            return True
    return False


def test_no_printed_command_line_carries_a_comment(stack_plans: dict[str, Path]) -> None:
    for what, out in _outputs(stack_plans):
        commands = [line for line in out.splitlines() if line.startswith("    ")]
        assert any(line.lstrip().startswith("export ") for line in commands)
        for line in commands:
            assert not _unquoted_comment(line), f"{what}: {line}"


def test_the_steps_that_run_the_tool_need_the_venv(stack_plans: dict[str, Path]) -> None:
    seen = 0
    for what, out in _outputs(stack_plans):
        assert "python3" not in out and ".venv/bin/python " not in out, what
        for title, commands in step_blocks(out):
            if re.search(r"python -m tools\.recover --stack \S+ --workdir", commands):
                seen += 1
                chunk = out[out.index(title) :]
                needs = chunk.splitlines()[1]
                assert needs.startswith("  needs: ") and "python" in needs, f"{what}: {title}"
        if re.search(r"python -m tools\.recover --stack \S+ --workdir", out):
            assert "python: the repository's .venv" in out and ". .venv/bin/activate" in out
    assert seen


# --- 6. a namespace no backup holds keeps all but its lost claims ----------------------------


PVS = [
    ("pve2/pve2/local/vm-9999-a", "monitoring", "prometheus-db-prometheus-0"),
    ("pve2/pve1/local/vm-9999-b", "monitoring", "alertmanager-db-alertmanager-0"),
    ("pve2/pve2/local/vm-9999-c", "podinfo", "data-redis-0"),
]
PODS = [
    ("prometheus-0", "prometheus-db-prometheus-0"),
    ("alertmanager-0", "alertmanager-db-alertmanager-0"),
    ("grafana-abc", None),
]


@needs_jq
@pytest.mark.parametrize(
    ("zone", "claims", "pods"),
    [
        ("pve2", ["prometheus-db-prometheus-0"], ["prometheus-0"]),
        (
            None,
            ["alertmanager-db-alertmanager-0", "prometheus-db-prometheus-0"],
            ["prometheus-0", "alertmanager-0"],  # in the order Kubernetes lists them
        ),
    ],
)
def test_only_the_claims_on_lost_disks_and_their_pods_are_deleted(
    tmp_path: Path, zone: str | None, claims: list[str], pods: list[str]
) -> None:
    pv = {
        "items": [
            {
                "spec": {
                    "csi": {"driver": "csi.proxmox.sinextra.dev", "volumeHandle": handle},
                    "claimRef": {"namespace": ns, "name": claim},
                }
            }
            for handle, ns, claim in PVS
        ]
    }
    pod = {
        "items": [
            {
                "metadata": {"name": name},
                "spec": {
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
                    if claim
                    else [{"name": "tmp", "emptyDir": {}}]
                },
            }
            for name, claim in PODS
        ]
    }
    (tmp_path / "pv.json").write_text(json.dumps(pv))
    (tmp_path / "pods.json").write_text(json.dumps(pod))
    fake(
        tmp_path / "bin",
        "kubectl",
        f'echo "$*" >> "{tmp_path}/kubectl.log"\n'
        'case "$*" in\n'
        f'  "get pv -o json") cat "{tmp_path}/pv.json" ;;\n'
        f'  "-n monitoring get pods -o json") cat "{tmp_path}/pods.json" ;;\n'
        "esac\n",
    )
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "RECOVER_DIR": str(tmp_path),
    }
    done = _sh("ns=monitoring\n" + lost_claims(zone), env)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "kubectl.log").read_text().splitlines()
    deletes = [line for line in log if " delete " in line]
    assert deletes == [
        f"-n monitoring delete pvc --wait=false {' '.join(claims)}",
        f"-n monitoring delete pod --wait=true --timeout=5m {' '.join(pods)}",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["cluster-lost"],
        ["worker-lost", "--node", "prod-worker-2", "--volumes-lost"],
    ],
)
def test_a_namespace_no_backup_holds_is_not_deleted(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, argv: list[str]
) -> None:
    code, out, _ = run(capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", *argv)
    assert code == 0
    restoring = next(c for t, c in step_blocks(out) if "Restore those namespaces" in t)
    branch = restoring[restoring.index("  else") : restoring.index("  fi\n    done")]
    assert "tools.recover" not in branch and "delete namespace" not in branch
    assert "delete pvc" in branch and "delete pod" in branch
    assert ('"pve2")' in branch) is (argv[0] == "worker-lost")


# --- 7. every Secret is the program's --------------------------------------------------------


def test_no_text_says_secrets_come_back_from_git(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    texts = [p.read_text() for p in (REPO / "tools/recover").rglob("*.py")]
    texts.append((REPO / "docs/recovery.md").read_text())
    _, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo",
    )  # fmt: skip
    texts.append(out)
    for text in texts:
        flat = " ".join(text.split())
        assert not re.search(r"Secrets?\b[^.]{0,80}(from Git|Git declares|Git's)", flat)
        assert "those Git declares" not in flat


def test_the_program_s_objects_come_back_before_the_restore(prod_doc: dict[str, Any]) -> None:
    facts = facts_of(prod_doc)
    secret = next(
        r["urn"] for r in prod_doc["resources"] if r["type"] == "kubernetes:core/v1:Secret"
    )
    # The program puts a Secret in podinfo, a namespace Argo CD creates.
    facts = dataclasses.replace(
        facts,
        namespaces={**facts.namespaces, "podinfo": ProgramNamespace("podinfo", None, (secret,))},
    )
    steps = procedure("namespace-deleted", facts, Options(namespace="podinfo")).steps
    titles = [s.title for s in steps]
    program = next(i for i, t in enumerate(titles) if t.startswith("Recreate the program's"))
    restore = next(i for i, t in enumerate(titles) if t.startswith("Restore podinfo"))
    delete = next(i for i, t in enumerate(titles) if t.startswith("Delete what"))
    assert delete < program < restore
    run_ = steps[program].run
    assert run_.index("kubectl create namespace podinfo") < run_.index("pulumi up")
    assert f"--target '{secret}'" in run_ and "Namespace::" not in run_
    assert "the program's, back from the step before" in " ".join(steps[restore].notes)
