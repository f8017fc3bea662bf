"""The backup check: every stack's plan shows its bucket, its token and both schedules; prod's
schedules keep the recovery points docs/recovery.md promises; a tree without them fails."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from offline.validators import backups, gitops
from offline.validators.cron import CronError, gaps
from tests.conftest import STACKS, document


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 * * * *", (60, 60)),
        ("0 */6 * * *", (360, 360)),
        ("0 3 * * *", (1440, 1440)),
        ("*/20 * * * *", (20, 20)),
        ("0 1,13 * * *", (720, 720)),
        ("30 2,3 * * *", (60, 1380)),
        ("0 0-23/8 * * *", (480, 480)),
        ("@hourly", (60, 60)),
        ("0 9,17 * * *", (480, 960)),
        ("0 8-18/5 * * *", (300, 840)),  # 8:00, 13:00, 18:00
    ],
)
def test_gaps_between_runs(expression: str, expected: tuple[int, int]) -> None:
    assert gaps(expression) == expected


@pytest.mark.parametrize(
    "expression", ["@weekly", "0 3 * * 1", "0 0 1 * *", "* *", "0 24 * * *", "0 */0 * * *"]
)
def test_schedules_it_cannot_judge_are_errors(expression: str) -> None:
    with pytest.raises(CronError):
        gaps(expression)


def _rendered(env: str) -> dict[str, list[gitops.RenderedObject]]:
    return {
        key: [dataclasses.replace(o, manifest=copy.deepcopy(o.manifest)) for o in objects]
        for key, objects in gitops._render_environment(env).items()
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_shows_its_bucket_and_both_schedules(stack: str) -> None:
    report = backups.evaluate(document(stack), _rendered(stack), stack)
    assert report.problems == []
    assert f"talos-platform-{stack}-backups" in report.table
    assert "(etcd-backup/talos-backup)" in report.table
    assert "(velero/velero-volumes)" in report.table
    assert report.ran.startswith("Backups etcd every ")


def _objects(rendered: dict[str, list[gitops.RenderedObject]], kind: str):
    return [o for items in rendered.values() for o in items if o.manifest.get("kind") == kind]


def test_prod_refuses_a_schedule_beyond_its_recovery_point() -> None:
    rendered = _rendered("prod")
    [cronjob] = [
        o for o in _objects(rendered, "CronJob") if o.manifest["metadata"]["name"] == "talos-backup"
    ]
    cronjob.manifest["spec"]["schedule"] = "0 */2 * * *"
    [schedule] = _objects(rendered, "Schedule")
    schedule.manifest["spec"]["schedule"] = "0 3 */2 * *"
    problems = backups.evaluate(document("prod"), rendered, "prod").problems
    assert any(
        p.startswith(cronjob.origin) and "up to 2 h" in p and "objective for etcd is 1 h" in p
        for p in problems
    ), problems
    assert any("velero/velero-volumes: schedule" in p and "expected" in p for p in problems)


def test_dev_may_snapshot_less_often() -> None:
    rendered = _rendered("dev")
    report = backups.evaluate(document("dev"), rendered, "dev")
    assert report.problems == [] and "every 6 h" in report.table


def test_a_tree_without_the_backup_add_ons_fails() -> None:
    rendered = {
        key: [o for o in objects if o.manifest.get("kind") not in ("CronJob", "Schedule")]
        for key, objects in _rendered("staging").items()
    }
    problems = backups.evaluate(document("staging"), rendered, "staging").problems
    assert any("no CronJob etcd-backup/talos-backup" in p for p in problems)
    assert any("no Velero Schedule in velero" in p for p in problems)


def _etcd_and_schedule(rendered):
    [cronjob] = [
        o for o in _objects(rendered, "CronJob") if o.manifest["metadata"]["name"] == "talos-backup"
    ]
    [schedule] = _objects(rendered, "Schedule")
    return cronjob, schedule


def test_a_suspended_cronjob_or_a_paused_schedule_fails_in_every_environment() -> None:
    rendered = _rendered("dev")
    cronjob, schedule = _etcd_and_schedule(rendered)
    cronjob.manifest["spec"]["suspend"] = True
    schedule.manifest["spec"]["paused"] = True
    problems = backups.evaluate(document("dev"), rendered, "dev").problems
    assert any("etcd-backup/talos-backup: spec.suspend is true" in p for p in problems)
    assert any("velero/velero-volumes: spec.paused is true" in p for p in problems)


def test_a_stateful_namespace_no_schedule_covers_fails() -> None:
    """staging's monitoring (Prometheus on a volume) is declared not backed up; podinfo is
    covered: take it out of the Schedule and the plan names it."""
    rendered = _rendered("staging")
    _, schedule = _etcd_and_schedule(rendered)
    schedule.manifest["spec"]["template"]["includedNamespaces"] = ["elsewhere"]
    problems = backups.evaluate(document("staging"), rendered, "staging").problems
    assert [p for p in problems if "no Velero Schedule includes" in p] == [
        "backups: namespace podinfo has volumes (StatefulSet redis) that no Velero Schedule "
        "includes: add it to the Schedule's includedNamespaces (gitops/platform/addons/velero), "
        "or to offline/validators/backups.py NOT_BACKED_UP with the reason"
    ]


def test_backups_that_expire_before_the_next_is_known_good_fail() -> None:
    rendered = _rendered("prod")
    _, schedule = _etcd_and_schedule(rendered)
    schedule.manifest["spec"]["template"]["ttl"] = "36h0m0s"
    problems = backups.evaluate(document("prod"), rendered, "prod").problems
    assert any("ttl '36h0m0s' is shorter than two runs (48 h)" in p for p in problems)
