"""The rolling upgrade: its order in the graph, and that only a version change touches it."""

from __future__ import annotations

import itertools

from offline.graph import plan_document
from tests.conftest import by_type, recorded, stack_values, structured, with_key

COMMAND = "command:local:Command"


def steps(stack: str, values: dict[str, str] | None = None) -> dict[str, object]:
    return {r.name: r for r in by_type(recorded(stack, values), COMMAND)}


def test_control_planes_first_one_at_a_time_then_workers_then_kubernetes() -> None:
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
    kubernetes = found["upgrade-kubernetes"]
    assert {urn[n] for n in found if n != "upgrade-kubernetes"} <= set(kubernetes.dependencies)


def test_steps_do_nothing_on_create_and_upgrade_on_update() -> None:
    for step in steps("prod").values():
        assert step.inputs["create"] == "true"
        assert "talosctl" in step.inputs["update"]
        assert step.inputs["stdin"] == "[secret]"
    node_step = steps("prod")["upgrade-prod-cp-2"]
    assert "upgrade --image" in node_step.inputs["update"]
    assert "--preserve" in node_step.inputs["update"]
    assert node_step.inputs["update"].count("health") == 2
    assert "upgrade-k8s" in steps("prod")["upgrade-kubernetes"].inputs["update"]


def _inputs(values: dict[str, str] | None) -> dict[str, dict]:
    return {r["name"]: r["inputs"] for r in plan_document(recorded("prod", values))["resources"]}


def test_nothing_upgrades_when_versions_do_not_change() -> None:
    base, _ = stack_values("prod")
    nodes = structured(base, "nodes")
    nodes.append(dict(nodes[-1], name="prod-worker-4", vm_id=3124, ip="203.0.113.24"))
    grown = with_key(base, "nodes", nodes)
    before, after = _inputs(None), _inputs(grown)
    for name in before:
        if name.startswith("upgrade-"):
            # The only inputs that differ are those ignore_changes keeps from triggering.
            old, new = before[name], after[name]
            old_env = {k: v for k, v in old["environment"].items() if k != "ENDPOINTS"}
            new_env = {k: v for k, v in new["environment"].items() if k != "ENDPOINTS"}
            assert old_env == new_env, name
            assert {k: v for k, v in old.items() if k != "environment"} == {
                k: v for k, v in new.items() if k != "environment"
            }
    run = recorded("prod")
    ignored = next(r for r in by_type(run, COMMAND) if r.name == "upgrade-prod-cp-1").ignore_changes
    assert {"stdin", "environment.ENDPOINTS", "environment.HEALTH_NODE"} <= set(ignored)


def test_a_talos_version_change_touches_every_node_step_and_not_kubernetes() -> None:
    base, _ = stack_values("prod")
    bumped = with_key(base, "talos_version", "v1.13.10")
    before, after = _inputs(None), _inputs(bumped)
    for name, old in before.items():
        if not name.startswith("upgrade-"):
            continue
        changed = {
            k for k in old["environment"] if old["environment"][k] != after[name]["environment"][k]
        }
        if name == "upgrade-kubernetes":
            assert changed == set()
        else:
            assert changed == {"TALOS_VERSION", "INSTALLER_IMAGE"}, name
            assert after[name]["environment"]["TALOS_VERSION"] == "v1.13.10"


def test_a_kubernetes_version_change_touches_only_the_kubernetes_step() -> None:
    base, _ = stack_values("prod")
    bumped = with_key(base, "kubernetes_version", "v1.36.3")
    before, after = _inputs(None), _inputs(bumped)
    changed = {
        name for name in before if name.startswith("upgrade-") and before[name] != after[name]
    }
    assert changed == {"upgrade-kubernetes"}
    assert after["upgrade-kubernetes"]["environment"]["KUBERNETES_VERSION"] == "1.36.3"
