"""`python -m tools.recover`: the steps of each scenario name the stack's real nodes, addresses,
bucket and URNs (from a recorded plan), run in order through an injected executor and stop at
the first failure, never print a secret, and refuse what does not fit with exit status 2."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline.answers import FABRICATED_SECRETS
from offline.paths import REPO_ROOT
from tools.recover import SCENARIOS, Options, facts_of, procedure
from tools.recover.facts import BOOTSTRAP, CONFIG_APPLY, VM
from tools.recover.steps import credentials, snapshot_from_r2, subshell, wait_until

from .recover_support import (
    Recorder,
    assert_known_urns,
    fake,
    run,
    step_blocks,
    steps_text,
    urns_of,
)

#: Stand-ins for secret outputs and inputs, put into the recorded plan where the real values
#: would be if a plan ever held them: none may reach the output.
PLANTED = ("planted-talosconfig-7f3a", "planted-access-key-91c2", "planted-secret-key-4be8")


@pytest.fixture(scope="session")
def planted_plan(prod_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prod plan with secret values where the plan has `[secret]`."""
    doc = json.loads(json.dumps(prod_doc))
    doc["outputs"]["talosconfig"] = PLANTED[0]
    doc["outputs"]["backup_s3_credentials"] = {
        "access_key_id": PLANTED[1],
        "secret_access_key": PLANTED[2],
    }
    for resource in doc["resources"]:
        if resource["type"] == BOOTSTRAP:
            resource["inputs"]["clientConfiguration"] = {"clientKey": PLANTED[0]}
    path = tmp_path_factory.mktemp("recover") / "planted.json"
    path.write_text(json.dumps(doc))
    return path


# --- Listing and usage ---------------------------------------------------------------------------


def test_lists_every_scenario_one_line_each(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, out, _ = run(capsys, "--stack", "prod", "--plan", str(prod_plan))
    assert code == 0
    for name in SCENARIOS:
        assert len([line for line in out.splitlines() if line.strip().startswith(name)]) == 1
    assert SCENARIOS.keys() == {
        "worker-lost",
        "control-plane-lost",
        "quorum-lost",
        "namespace-deleted",
        "cluster-lost",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenario", "disk-full"], "unknown scenario 'disk-full'"),
        (["--scenario", "worker-lost", "--node", "prod-cp-1"], "prod-cp-1 is no worker"),
        (["--scenario", "worker-lost", "--node", "nosuch"], "no node 'nosuch'"),
        (["--scenario", "worker-lost", "--run"], "needs --node NAME"),
        (["--scenario", "control-plane-lost", "--node", "prod-worker-1"], "is no control plane"),
        (["--scenario", "namespace-deleted", "--namespace", "velero"], "Velero cannot restore"),
        (["--scenario", "namespace-deleted", "--run"], "needs --namespace"),
        (["--scenario", "cluster-lost", "--node", "prod-cp-1"], "no --node"),
        (["--yes"], "--yes goes with --run"),
        (["--run"], "--run needs --scenario"),
    ],
)
def test_what_does_not_fit_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--stack", "prod", "--plan", str(prod_plan), *argv)
    assert code == 2
    assert message in err
    assert not out


def test_an_unknown_stack_or_another_stacks_plan_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    code, _, err = run(capsys, "--stack", "nosuch")
    assert code == 2
    assert "Pulumi.nosuch.yaml" in err
    code, _, err = run(capsys, "--stack", "dev", "--plan", str(prod_plan))
    assert code == 2
    assert "plan of stack 'prod', not 'dev'" in err
    code, _, err = run(capsys, "--stack", "prod", "--plan", str(prod_plan.parent / "none.json"))
    assert code == 2
    assert "no such file" in err


def test_scenarios_that_do_not_apply_to_a_stack_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    # dev has a single control plane, staging no worker (the shipped stack files).
    code, _, err = run(capsys, "--stack", "dev", "--scenario", "control-plane-lost")
    assert code == 2
    assert "use the scenario quorum-lost" in err
    code, _, err = run(capsys, "--stack", "staging", "--scenario", "worker-lost")
    assert code == 2
    assert "staging has no worker" in err


# --- What each scenario prints -------------------------------------------------------------------


def test_worker_lost_recreates_that_worker_only(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "worker-lost",
        "--node", "prod-worker-2",
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    assert "203.0.113.22" in commands and "kubectl delete node prod-worker-2" in commands
    assert "zone=pve2" in commands
    found = assert_known_urns(commands, prod_doc)
    vm = urns_of(prod_doc, VM)["prod-worker-2"]
    apply = urns_of(prod_doc, CONFIG_APPLY)["talos-prod-worker-2"]
    image = urns_of(prod_doc, "proxmoxve:download/file:File")["talos-image-pve2"]
    assert f"--target '{vm}'" in commands and f"--target '{image}'" in commands
    assert f"--target-replace '{apply}'" in commands
    # Nothing of another node, and not the exit step (its delete would reset the new VM).
    assert found == {vm, apply, image}
    assert commands.index("pulumi refresh") < commands.index("pulumi up")


def test_control_plane_lost_removes_the_member_before_recreating_it(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "control-plane-lost",
        "--node", "prod-cp-2",
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    # The member is found by its hostname, the 3rd column of `talosctl etcd members -n`
    # (siderolabs/talos v1.13.9 cmd/talosctl/cmd/talos/etcd.go), on the survivors only.
    assert "awk -v host=prod-cp-2 'NR > 1 && $3 == host { print $2 }'" in commands
    assert "for ip in 203.0.113.11 203.0.113.13; do" in commands
    assert commands.index("etcd remove-member") < commands.index("pulumi up")
    assert assert_known_urns(commands, prod_doc) == {
        urns_of(prod_doc, VM)["prod-cp-2"],
        urns_of(prod_doc, CONFIG_APPLY)["talos-prod-cp-2"],
        urns_of(prod_doc, "proxmoxve:download/file:File")["talos-image-pve2"],
    }
    assert "talosctl -e 203.0.113.12 -n 203.0.113.12 get service etcd" in commands
    # The quorum check goes through a control plane that answers ($EP), never through the
    # talosconfig's endpoints, which include the dead node (issue 14 review).
    quorum = next(c for title, c in step_blocks(out) if "keep etcd quorum" in title)
    assert 'talosctl -e "$EP" -n 203.0.113.11,203.0.113.13 etcd status' in quorum
    assert 'talosctl -e "$EP" -n "$EP" etcd members' in quorum
    assert quorum.index("EP=") < quorum.index("etcd status")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_talosctl_names_its_endpoint(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, scenario: str
) -> None:
    extra = ["--namespace", "podinfo"] if scenario == "namespace-deleted" else []
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", scenario, *extra
    )
    assert code == 0
    calls = re.findall(r"\btalosctl\b[^\n|;&]*", steps_text(out))
    bare = [c for c in calls if not c.startswith("talosctl -e ")]
    assert not bare, f"talosctl without -e (it would use the talosconfig's endpoints): {bare}"


def test_quorum_lost_bootstraps_the_program_s_bootstrap_node_from_the_snapshot(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "quorum-lost"
    )
    assert code == 0
    commands = steps_text(out)
    bootstrap = next(r for r in prod_doc["resources"] if r["type"] == BOOTSTRAP)
    ip = bootstrap["inputs"]["node"]
    backup = prod_doc["outputs"]["backup"]
    assert f'talosctl -e {ip} -n {ip} bootstrap --recover-from="$RECOVER_DIR/db.snapshot"' in (
        commands
    )
    # A snapshot (live or talos-backup's) carries its hash: the flag is only for a copied db.
    assert "--recover-skip-hash-check" not in commands
    assert "--recover-skip-hash-check" in out  # ... and the note says when
    assert f"--bucket {backup['bucket']}" in commands
    assert f"--endpoint-url {backup['s3_endpoint']}" in commands
    assert f"--prefix {backup['etcd_prefix']}/{backup['cluster_name']}-" in commands
    assert 'age -d -i "$AGE_KEY_FILE"' in commands
    # Every control plane's EPHEMERAL wiped, after the snapshot is in hand, before the bootstrap.
    wipe = commands.index("--system-labels-to-wipe=EPHEMERAL")
    assert commands.index("etcd snapshot") < wipe < commands.index("bootstrap --recover-from")
    for cp in ("203.0.113.11", "203.0.113.12", "203.0.113.13"):
        assert f"talosctl -e {cp} -n {cp} reset --graceful=false --reboot" in commands
    assert 'export AWS_REGION="auto"' in out and "AGE_KEY_FILE" in out


def test_quorum_lost_with_a_given_snapshot_and_a_lost_vm(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    key = "etcd/prod-2026-05-04T02:00:00Z.snap.age"
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "quorum-lost",
        "--snapshot", key, "--node", "prod-cp-3",
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    assert f"key={shlex.quote(key)}" in commands and "list-objects-v2" not in commands
    assert 'etcd snapshot "$RECOVER_DIR' not in commands  # no live snapshot when one is named
    assert f"--target-replace '{urns_of(prod_doc, CONFIG_APPLY)['talos-prod-cp-3']}'" in commands
    # The lost one is recreated, not reset; the others are reset.
    assert "-n 203.0.113.13 reset" not in commands
    assert "-n 203.0.113.11 reset" in commands and "-n 203.0.113.12 reset" in commands


def test_cluster_lost_recreates_every_node_and_never_reruns_bootstrap_or_exits(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "cluster-lost"
    )
    assert code == 0
    commands = steps_text(out)
    found = assert_known_urns(commands, prod_doc)
    assert set(urns_of(prod_doc, VM).values()) <= found
    for urn in urns_of(prod_doc, CONFIG_APPLY).values():
        assert f"--target-replace '{urn}'" in commands
    exits = {r["urn"] for r in prod_doc["resources"] if r["name"].endswith("-exit")}
    assert exits and not exits & found
    assert not set(urns_of(prod_doc, BOOTSTRAP).values()) & found
    order = [
        "aws s3api list-objects-v2",
        "pulumi refresh",
        "--target-replace",
        "bootstrap --recover-from",
        "pulumi up --stack prod \\\n      --refresh",
        "--scenario namespace-deleted",
    ]
    positions = [commands.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_namespace_deleted_pauses_argo_cd_restores_and_resumes(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo",
    )  # fmt: skip
    assert code == 0
    commands = steps_text(out)
    patch = "kubectl -n argocd patch applications.argoproj.io {} --type merge"
    # The root (its self-heal would undo the child's pause) before podinfo's Application.
    assert commands.index(patch.format("root")) < commands.index(patch.format("podinfo"))
    restore = 'velero -n velero restore create "$name" --from-backup'
    assert restore in commands and "--include-namespaces podinfo --wait" in commands
    assert "-l velero.io/schedule-name=velero-volumes" in commands
    positions = [
        commands.index(patch.format("root")),
        commands.index("kubectl delete namespace podinfo"),
        commands.index(restore),
        commands.index("pulumi up --stack prod"),
    ]
    assert positions == sorted(positions)
    root = urns_of(prod_doc, "kubernetes:argoproj.io/v1alpha1:Application")["argocd-root"]
    assert assert_known_urns(commands, prod_doc) == {root}


def test_the_schedule_is_named_as_the_velero_chart_names_it() -> None:
    # vmware-tanzu/helm-charts velero 12.1.0: `<fullname>-<key>`, the fullname being the
    # release name when it holds the chart's name.
    template = (REPO_ROOT / "upstream/charts/velero/templates/schedule.yaml").read_text()
    assert 'name: {{ include "velero.fullname" $ }}-{{ $scheduleName }}' in template
    from tools.recover.applications import tree_applications, velero_schedules

    schedules = velero_schedules(tree_applications("root", "gitops/envs/prod"))
    assert [s.name for s in schedules] == ["velero-volumes"]
    assert "podinfo" in schedules[0].namespaces


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_step_is_valid_shell_and_needs_what_it_uses(
    prod_doc: dict[str, Any], scenario: str
) -> None:
    facts = facts_of(prod_doc)
    options = Options(namespace="podinfo" if scenario == "namespace-deleted" else None)
    chosen = procedure(scenario, facts, options)
    assert chosen.steps
    for number, step in enumerate(chosen.steps, 1):
        for script in (step.run, step.check):
            parsed = subprocess.run(["/bin/sh", "-n", "-c", script], capture_output=True)
            assert parsed.returncode == 0, f"step {number}: {parsed.stderr.decode()}"
        used = f"{step.run}\n{step.check}"
        for tool in ("talosctl", "kubectl", "velero", "aws", "age", "jq", "pulumi"):
            at_command = rf"(^\s*|[|;&(!]\s*|then\s+|timeout \d+\s+){tool}\s"
            if re.search(at_command, used, re.MULTILINE):
                assert tool in step.needs, f"step {number} runs {tool}, its needs omit it"
        for variable, need in (("$TALOSCONFIG", "talosconfig"), ("$AGE_KEY_FILE", "age-key")):
            if variable in step.run and number > 1:
                assert need in step.needs, f"step {number} uses {variable}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_secret_is_printed(
    capsys: pytest.CaptureFixture[str], planted_plan: Path, scenario: str
) -> None:
    extra = ["--namespace", "podinfo"] if scenario == "namespace-deleted" else []
    code, out, err = run(
        capsys, "--stack", "prod", "--plan", str(planted_plan), "--scenario", scenario, *extra
    )
    assert code == 0
    assert FABRICATED_SECRETS, "the run fabricated no secret: the check would be empty"
    for value in (*PLANTED, *FABRICATED_SECRETS):
        assert value not in out and value not in err
    # Credentials reach files through pipes, never a command line or the terminal.
    assert "--show-secrets" in out
    for line in out.splitlines():
        if line.lstrip().startswith("pulumi stack output"):
            assert line.rstrip().endswith(('"$TALOSCONFIG"', '"$KUBECONFIG"', "\\"))


# --- Running -------------------------------------------------------------------------------------


RUN_WORKER = ("--scenario", "worker-lost", "--node", "prod-worker-3", "--run")


def test_run_executes_each_step_then_its_check_in_order(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, prod_doc: dict[str, Any]
) -> None:
    world = Recorder()
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), *RUN_WORKER,
        executor=world.executor(),
    )  # fmt: skip
    assert code == 0, out
    chosen = procedure("worker-lost", facts_of(prod_doc), Options(nodes=("prod-worker-3",)))
    # Each block as printed: the step's script in its subshell.
    expected = [subshell(script) for step in chosen.steps for script in (step.run, step.check)]
    assert world.commands == expected
    for block in expected:
        assert f"{block}" in out.replace("\n    ", "\n")
    assert len(world.questions) == len(chosen.steps)
    env = world.envs[0]
    assert env["RECOVER_DIR"] == "/home/op/.talos-platform/recover-prod"
    assert env["TALOSCONFIG"] == "/home/op/.talos-platform/recover-prod/talosconfig"
    assert "PULUMI_SKIP_CONFIRMATIONS" not in env
    assert f"all {len(chosen.steps)} steps done" in out


def test_run_stops_at_the_first_failure_and_names_the_step(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder(fail="pulumi refresh")
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), *RUN_WORKER,
        executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    assert re.search(r"FAILED: step 5 of 7, 'Let Pulumi see that the VM of prod-worker-3", out)
    assert world.commands[-1].startswith("( set -eu\npulumi refresh")
    assert not any("pulumi up" in c for c in world.commands)
    assert "steps done" not in out


def test_run_stops_when_a_check_fails(capsys: pytest.CaptureFixture[str], prod_plan: Path) -> None:
    world = Recorder(fail="! kubectl get node prod-worker-3 >/dev/null")
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), *RUN_WORKER,
        executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    assert "FAILED: the check of step 4 of 7" in out and "node prod-worker-3 not found" in out
    assert "pulumi refresh" not in "\n".join(world.commands)


def test_run_asks_and_a_no_runs_nothing(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder(answers=False)
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), *RUN_WORKER,
        executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    assert world.commands == [] and len(world.questions) == 1
    assert "stopped before step 1 of 7 (not confirmed)" in out


def test_run_with_yes_asks_nothing_and_tells_pulumi_so(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder()
    code, _, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), *RUN_WORKER, "--yes",
        executor=world.executor(),
    )  # fmt: skip
    assert code == 0
    assert world.questions == []
    assert world.envs[0]["PULUMI_SKIP_CONFIRMATIONS"] == "true"


def test_run_checks_tools_and_the_age_key_before_a_step(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder(missing="age")
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "cluster-lost",
        "--run", "--yes", executor=world.executor(),
    )  # fmt: skip
    assert code == 1
    assert "error: step 2 needs age is not on the PATH" in out
    assert len(world.commands) == 2  # step 1 and its check only


# --- The shell itself ----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_credentials_step_writes_files_only_you_can_read(
    prod_doc: dict[str, Any], tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake(
        bin_dir,
        "pulumi",
        'case "$*" in\n'
        f'  *backup_s3_credentials*) echo \'{{"access_key_id": "{PLANTED[1]}", '
        f'"secret_access_key": "{PLANTED[2]}"}}\' ;;\n'
        f"  *) echo {PLANTED[0]} ;;\n"
        "esac\n",
    )
    work = tmp_path / "work"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECOVER_DIR": str(work),
        "TALOSCONFIG": str(work / "talosconfig"),
        "KUBECONFIG": str(work / "kubeconfig"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "r2-credentials"),
    }
    step = credentials(facts_of(prod_doc), r2=True)
    # As `--run` runs it: the printed block, with /bin/sh.
    done = subprocess.run(["/bin/sh", "-c", subshell(step.run)], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert not {value for value in PLANTED if value.encode() in done.stdout + done.stderr}
    assert subprocess.run(["/bin/sh", "-c", subshell(step.check)], env=env).returncode == 0
    credentials_file = work / "r2-credentials"
    assert credentials_file.read_text() == (
        f"[default]\naws_access_key_id = {PLANTED[1]}\naws_secret_access_key = {PLANTED[2]}\n"
    )
    for path in (credentials_file, work / "talosconfig"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_r2_step_takes_the_newest_snapshot_and_its_check_tests_the_hash(
    prod_doc: dict[str, Any], tmp_path: Path
) -> None:
    backup = facts_of(prod_doc).backup
    assert backup is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `--output text` of [LastModified, Key], unordered; the download writes a snapshot of the
    # right shape (size 512 * n + 32), `age -d -o OUT IN` copies.
    fake(
        bin_dir,
        "aws",
        'case "$1 $2" in\n'
        '  "s3api list-objects-v2")\n'
        '    printf "2026-05-04T01:00:03.000Z\\tetcd/prod-2026-05-04T01:00:00Z.snap.age\\n'
        "2026-05-04T03:00:02.000Z\\tetcd/prod-2026-05-04T03:00:00Z.snap.age\\n"
        '2026-05-04T02:00:04.000Z\\tetcd/prod-2026-05-04T02:00:00Z.snap.age\\n" ;;\n'
        '  "s3 cp") echo "$*" > "$RECOVER_DIR/cp-args"; head -c 1056 /dev/zero > "$6" ;;\n'
        "esac\n",
    )
    fake(bin_dir, "age", 'cp "$6" "$5"\n')
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECOVER_DIR": str(tmp_path),
        "AGE_KEY_FILE": str(tmp_path / "key.txt"),
    }
    script = snapshot_from_r2(backup, None)
    done = subprocess.run(["/bin/sh", "-eu", "-c", script], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    newest = "etcd/prod-2026-05-04T03:00:00Z.snap.age"
    assert (tmp_path / "snapshot-source").read_text().strip() == newest
    assert f"s3://{backup.bucket}/{newest}" in (tmp_path / "cp-args").read_text()
    from tools.recover.steps import SNAPSHOT_CHECK

    assert subprocess.run(["/bin/sh", "-eu", "-c", SNAPSHOT_CHECK], env=env).returncode == 0
    (tmp_path / "db.snapshot").write_bytes(b"\0" * 1000)  # no hash at the end
    assert subprocess.run(["/bin/sh", "-eu", "-c", SNAPSHOT_CHECK], env=env).returncode != 0


def test_a_wait_goes_on_when_met_and_fails_when_not() -> None:
    both = f"{wait_until('true', 1)}\n{wait_until('true', 1)}\necho after"
    done = subprocess.run(["/bin/sh", "-eu", "-c", both], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "after"
    never = wait_until("false", 0, "the thing", every=0)
    done = subprocess.run(["/bin/sh", "-eu", "-c", never], capture_output=True, text=True)
    assert done.returncode == 1
    assert "not so after 0 minutes: the thing" in done.stderr


def test_without_a_plan_it_runs_the_program_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--stack", "dev", "--scenario", "quorum-lost")
    assert code == 0
    assert "bootstrap --recover-from" in out and "dev-cp-1" in out
    assert "s3://talos-platform-dev-backups/" in out
