"""Which Velero backup a volume restore takes, and the Schedule that could make a worse one.

cluster-lost: Velero comes back with etcd, its Schedule live; run before the volumes are
restored (at once if a run was missed, else at 03:00), it backs up pods that cannot run: a
Completed backup without their data (velero v1.18.1 pkg/podvolume/backupper.go). So the
Schedule is paused as soon as the API answers (Argo CD's velero Application first), the backup
is one started before the etcd snapshot, and both are given back in the last steps.
worker-lost --volumes-lost: the cluster ran on; a backup made after the node was lost holds
none of its host's volumes: the backup is one started before the node stopped being Ready."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.recover import facts_of
from tools.recover.scenarios.cluster_lost import choose_backup
from tools.recover.scenarios.common import Options
from tools.recover.steps import snapshot_from_r2, subshell

from .recover_support import Recorder, fake, run, step_blocks

needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def _cluster_lost(capsys: pytest.CaptureFixture[str], plan: Path, *extra: str) -> str:
    code, out, err = run(
        capsys, "--stack", "prod", "--plan", str(plan), "--scenario", "cluster-lost", *extra
    )
    assert code == 0, err
    return out


def _step(out: str, words: str) -> tuple[int, str]:
    for number, (title, commands) in enumerate(step_blocks(out), 1):
        if words in title:
            return number, commands
    raise AssertionError(f"no step {words!r}")


def test_cluster_lost_pauses_the_schedule_once_the_api_answers_and_unpauses_it_last(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    out = _cluster_lost(capsys, prod_plan)
    api, _ = _step(out, "the API server to answer")
    pause, paused = _step(out, "Pause Velero's Schedule")
    ready, _ = _step(out, "every node to be Ready")
    reconcile, reconciling = _step(out, "Reconcile everything")
    choose, choosing = _step(out, "Choose the volume backup")
    restore, restoring = _step(out, "Restore those namespaces")
    give, giving = _step(out, "Unpause the Schedule")
    # Right after the API answers, before the nodes are Ready (Velero cannot run before).
    assert pause == api + 1 and pause < ready < reconcile < choose < restore < give
    # Argo CD's sync of the velero add-on (and the app-of-apps above it) first.
    order = [
        paused.index("patch applications.argoproj.io root "),
        paused.index("patch applications.argoproj.io platform "),
        paused.index("patch applications.argoproj.io velero "),
        paused.index("velero schedule pause velero-volumes"),
    ]
    assert order == sorted(order)
    assert ".spec.paused" in paused
    # The full reconcile leaves the root alone (its update would resume sync); the last step
    # gives both back.
    root = next(r["urn"] for r in prod_doc["resources"] if r["name"] == "argocd-root")
    assert f"--exclude '{root}'" in reconciling and f"--target '{root}'" not in reconciling
    assert giving.index("velero schedule unpause velero-volumes") < giving.index(
        f"--target '{root}'"
    )
    # One backup, chosen before the snapshot's time, named to each restore, sync kept paused.
    assert '--arg before "$before"' in choosing and "snapshot-time" in choosing
    assert '--backup "$backup" --keep-paused --run' in restoring
    assert not [
        title
        for number, (title, commands) in enumerate(step_blocks(out), 1)
        if "velero schedule unpause" in commands and number != give
    ]


def test_cluster_lost_with_a_given_backup_needs_no_snapshot_time(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    out = _cluster_lost(capsys, prod_plan, "--backup", "velero-volumes-20260503030000")
    _, choosing = _step(out, "Choose the volume backup")
    assert "backup=velero-volumes-20260503030000" in choosing and "snapshot-time" not in choosing
    assert "volume backup: velero-volumes-20260503030000 (given)" in out


def test_the_printout_and_a_failure_name_the_schedule_and_sync_on_hold(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    out = _cluster_lost(capsys, prod_plan)
    pause, _ = _step(out, "Pause Velero's Schedule")
    give, _ = _step(out, "Unpause the Schedule")
    assert f"from step {pause} to step {give}: Velero's Schedule velero-volumes is on hold" in out
    assert f"from step {pause} to step {give}: Argo CD's sync of root, platform, velero" in out
    world = Recorder(fail="--scenario namespace-deleted")
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "cluster-lost",
        "--run", "--yes", executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    tail = out[out.index("FAILED") :]
    assert "still: Velero's Schedule velero-volumes is on hold" in tail
    assert "velero schedule unpause velero-volumes" in tail
    assert "still: Argo CD's sync of root, platform, velero is on hold" in tail


def test_once_given_back_nothing_is_reported_on_hold(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder()
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "cluster-lost",
        "--run", "--yes", executor=world.executor(),
    )  # fmt: skip
    assert code == 0, out
    assert "still:" not in out


@needs_jq
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("etcd/prod-2026-05-04T02:00:00Z.snap.age", "2026-05-04T02:00:00Z"),
        ("etcd/prod-2026-05-04T04:00:00+02:00.snap.age", "2026-05-04T02:00:00Z"),
        ("etcd/prod-2026-05-03T22:30:00-03:30.snap.age", "2026-05-04T02:00:00Z"),
    ],
)
def test_the_snapshot_time_comes_from_its_key_in_utc(
    prod_doc: dict[str, Any], tmp_path: Path, key: str, expected: str
) -> None:
    backup = facts_of(prod_doc).backup
    assert backup is not None
    bin_dir = tmp_path / "bin"
    fake(bin_dir, "aws", 'head -c 1056 /dev/zero > "$6"\n')
    fake(bin_dir, "age", 'cp "$6" "$5"\n')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECOVER_DIR": str(tmp_path),
        "AGE_KEY_FILE": str(tmp_path / "key.txt"),
    }
    script = subshell(snapshot_from_r2(backup, key, record_time=True))
    done = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "snapshot-time").read_text().strip() == expected


BACKUPS = [
    # name, phase, started: the snapshot is of 02:00 on 4 May
    ("velero-volumes-20260503030000", "Completed", "2026-05-03T03:00:00Z"),
    ("velero-volumes-20260504013000", "PartiallyFailed", "2026-05-04T01:30:00Z"),
    # made by the restored Schedule, of the lost volumes
    ("velero-volumes-20260504093000", "Completed", "2026-05-04T09:30:00Z"),
]


def _velero_world(tmp_path: Path, backups: list[tuple[str, str, str]]) -> dict[str, str]:
    """A kubectl that answers the storage location Available, the backups listed, one backup,
    and no volume; the restored namespaces' listing."""
    items = [
        {
            "metadata": {"name": name},
            "spec": {"includedNamespaces": ["podinfo"]},
            "status": {
                "phase": phase,
                "startTimestamp": started,
                "expiration": "x",
                "progress": {"itemsBackedUp": 7},
            },
        }
        for name, phase, started in backups
    ]
    (tmp_path / "backups.json").write_text(json.dumps({"items": items}))
    for name, *_ in backups:
        item = next(i for i in items if i["metadata"]["name"] == name)
        (tmp_path / f"{name}.json").write_text(json.dumps(item))
    fake(
        tmp_path / "bin",
        "kubectl",
        'case "$*" in\n'
        "  *backupstoragelocations*) echo Available ;;\n"
        f'  *"get backups.velero.io -l"*) cat "{tmp_path}/backups.json" ;;\n'
        '  *"get backups.velero.io"*" -o jsonpath"*)\n'
        f'    jq -r .status.phase "{tmp_path}/$5.json" ;;\n'
        '  *"get backups.velero.io velero-volumes-"*" -o json"*)\n'
        f'    cat "{tmp_path}/$5.json" ;;\n'
        '  *"get pv"*) echo \'{"items": []}\' ;;\n'
        "esac\n",
    )
    return {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "RECOVER_DIR": str(tmp_path),
    }


@needs_jq
def test_cluster_lost_takes_the_newest_completed_backup_started_before_the_snapshot(
    tmp_path: Path,
) -> None:
    env = _velero_world(tmp_path, BACKUPS)
    (tmp_path / "snapshot-time").write_text("2026-05-04T02:00:00Z\n")
    step = choose_backup("velero-volumes", Options())
    for script in (step.run, step.check):
        done = subprocess.run(
            ["/bin/sh", "-c", subshell(script)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "backup").read_text().strip() == "velero-volumes-20260503030000"
    assert (tmp_path / "namespaces").read_text().split() == ["podinfo"]
    # Nothing before the snapshot: an error that names --backup, not the newer backup.
    (tmp_path / "snapshot-time").write_text("2026-05-01T00:00:00Z\n")
    done = subprocess.run(
        ["/bin/sh", "-c", subshell(step.run)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and "--backup NAME" in done.stderr


# --- worker-lost --volumes-lost -----------------------------------------------------------


def test_worker_lost_volumes_lost_restores_from_a_backup_made_before_the_loss(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "worker-lost",
        "--node", "prod-worker-2", "--volumes-lost",
    )  # fmt: skip
    assert code == 0
    gone, confirming = _step(out, "is really gone")
    delete, _ = _step(out, "Delete the Node object")
    _, restoring = _step(out, "Restore those namespaces")
    # When it stopped being Ready, recorded before its Node object goes.
    assert gone < delete
    assert "lastTransitionTime" in confirming and "lost-since-prod-worker-2" in confirming
    assert '--arg before "$since"' in restoring
    assert '--backup "$backup" --run' in restoring and "--keep-paused" not in restoring
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "worker-lost",
        "--node", "prod-worker-2", "--volumes-lost", "--backup", "velero-volumes-20260503030000",
    )  # fmt: skip
    assert code == 0
    _, restoring = _step(out, "Restore those namespaces")
    assert "backup=velero-volumes-20260503030000" in restoring and "since" not in restoring
    _, confirming = _step(out, "is really gone")
    assert "lost-since" not in confirming


@needs_jq
def test_the_loss_time_and_the_backup_before_it(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    from tools.recover.scenarios.node_steps import confirm_gone, volumes_back

    facts = facts_of(prod_doc)
    node, cp = facts.node("prod-worker-2"), facts.control_planes[0]
    env = _velero_world(tmp_path, BACKUPS)
    # The node: talosctl finds nothing; Kubernetes saw it Unknown since 01:00 on 4 May.
    fake(tmp_path / "bin", "talosctl", "exit 1\n")
    kubectl = (tmp_path / "bin" / "kubectl").read_text()
    fake(
        tmp_path / "bin",
        "kubectl",
        kubectl.replace(
            'case "$*" in\n',
            'case "$*" in\n'
            '  *"get node prod-worker-2 -o jsonpath"*) echo "Unknown 2026-05-04T01:00:00Z" ;;\n'
            '  *"get node"*) ;;\n',
        ),
    )
    # The nested restores: record their arguments.
    fake(tmp_path / "bin", "python", f'echo "$*" >> "{tmp_path}/nested"\n')
    (tmp_path / "namespaces-pve2").write_text("podinfo\nmonitoring\n")
    gone = confirm_gone(node, cp, record=True)
    done = subprocess.run(
        ["/bin/sh", "-c", subshell(gone.run)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lost-since-prod-worker-2").read_text().strip() == "2026-05-04T01:00:00Z"
    back = volumes_back(facts, node, Options(nodes=(node.name,), volumes_lost=True))
    done = subprocess.run(
        ["/bin/sh", "-c", subshell(back.run)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    nested = (tmp_path / "nested").read_text().splitlines()
    # podinfo from the 3 May backup (the 4 May 09:30 one was made after the loss); monitoring,
    # which no backup holds, is not deleted: only its claims on the lost disks (none here).
    assert len(nested) == 1
    assert "--namespace podinfo --backup velero-volumes-20260503030000 --run" in nested[0]
    assert "monitoring: not in velero-volumes-20260503030000" in done.stdout
    # No record (the Node object was already gone): an error naming --backup.
    (tmp_path / "lost-since-prod-worker-2").unlink()
    done = subprocess.run(
        ["/bin/sh", "-c", subshell(back.run)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and "--backup NAME" in done.stderr
