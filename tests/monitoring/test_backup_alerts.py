"""The backup alerts (gitops/platform/monitoring/rules/common/backup.yaml, docs/alerts.md
"Backups") against what each environment runs: the objects and the scrape job they name exist,
and the schedules are those their thresholds assume. What the rules do with the series is
tests/monitoring/promtool/etcd-backup.yaml and velero.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.paths import REPO_ROOT
from offline.validators.cron import gaps
from tests.conftest import STACKS
from tests.monitoring.test_rules import everything

RULES = REPO_ROOT / "gitops" / "platform" / "monitoring" / "rules" / "common" / "backup.yaml"
ALERTS_DOC = REPO_ROOT / "docs" / "alerts.md"


def _rule(alert: str) -> dict[str, Any]:
    obj = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in obj["spec"]["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return rule
    raise AssertionError(alert)


def _one(objects: list[dict[str, Any]], kind: str, namespace: str, name: str) -> dict[str, Any]:
    found = [
        o
        for o in objects
        if o.get("kind") == kind
        and o["metadata"].get("namespace") == namespace
        and o["metadata"]["name"] == name
    ]
    assert len(found) == 1, (kind, namespace, name, len(found))
    return found[0]


def _shortest_interval_seconds(schedule: str) -> int:
    return gaps(schedule)[0] * 60


def _duration(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        ("0 * * * *", 3600),
        ("0 */3 * * *", 3 * 3600),
        ("0 */6 * * *", 6 * 3600),
        ("15 3 * * *", 86400),
    ],
)
def test_schedule_intervals(schedule: str, interval: int) -> None:
    assert _shortest_interval_seconds(schedule) == interval


@pytest.mark.parametrize("env", STACKS)
def test_the_etcd_backup_cronjob_fits_the_age_alert(env: str) -> None:
    """EtcdBackupTooOld allows 1.5 of the CronJob's intervals and 10 minutes: a run may start up
    to startingDeadlineSeconds late (at most 10 minutes) and take up to activeDeadlineSeconds
    (at most half an interval), so that a run on time never fires it, whatever the
    environment's schedule."""
    expr = _rule("EtcdBackupTooOld")["expr"]
    assert "1.5 * (" in expr and expr.rstrip().endswith("+ 600")
    assert set(re.findall(r'namespace="([^"]+)"', expr)) == {"etcd-backup"}
    assert set(re.findall(r'cronjob="([^"]+)"', expr)) == {"talos-backup"}
    cron = _one(everything(env), "CronJob", "etcd-backup", "talos-backup")
    spec = cron["spec"]
    interval = _shortest_interval_seconds(spec["schedule"])
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] <= interval / 2, env
    assert spec["startingDeadlineSeconds"] <= 600, env
    assert not spec.get("suspend"), env
    # the thresholds docs/alerts.md states, per environment
    threshold = _duration(1.5 * interval + 600)
    assert f"{threshold} in {env}" in ALERTS_DOC.read_text(encoding="utf-8"), threshold


@pytest.mark.parametrize("env", STACKS)
def test_the_velero_age_alert_names_every_schedule_and_each_is_daily(env: str) -> None:
    """VeleroBackupTooOld's 26 hours fit a daily Schedule: it names each Schedule the
    environment runs (a Schedule it does not name has no age alert), and each runs once a
    day, not paused."""
    expr = _rule("VeleroBackupTooOld")["expr"]
    named = set(re.findall(r'schedule="([^"]+)"', expr))
    assert "> 26 * 3600" in expr
    schedules = {
        o["metadata"]["name"]: o
        for o in everything(env)
        if o.get("kind") == "Schedule" and str(o.get("apiVersion", "")).startswith("velero.io/")
    }
    assert named == set(schedules), (env, named, set(schedules))
    # ... and VeleroScheduleMissing watches each one's series (absent() takes one Schedule
    # each: a Schedule it does not name can disappear unseen).
    missing = _rule("VeleroScheduleMissing")["expr"]
    assert set(re.findall(r'schedule="([^"]+)"', missing)) == set(schedules), (env, missing)
    assert missing.count("absent(velero_backup_attempt_total{") == len(schedules)
    for name, schedule in schedules.items():
        assert schedule["metadata"]["namespace"] == "velero", name
        assert gaps(schedule["spec"]["schedule"]) == (1440, 1440), (name, schedule["spec"])
        assert not schedule["spec"].get("paused"), name


@pytest.mark.parametrize("env", STACKS)
def test_the_velero_metrics_are_job_velero_in_velero(env: str) -> None:
    """The rules read the Velero server's series as job `velero`, namespace `velero`: the
    chart's ServiceMonitor there selects the Service `velero` (the operator names the job after
    the Service, without a `jobLabel`) on its metrics port."""
    assert 'job="velero"' in _rule("VeleroMetricsMissing")["expr"]
    objects = everything(env)
    monitor = _one(objects, "ServiceMonitor", "velero", "velero")
    assert "jobLabel" not in monitor["spec"]
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["velero"]
    wanted = monitor["spec"]["selector"]["matchLabels"]
    services = [
        o
        for o in objects
        if o.get("kind") == "Service"
        and o["metadata"].get("namespace") == "velero"
        and wanted.items() <= (o["metadata"].get("labels") or {}).items()
    ]
    assert [s["metadata"]["name"] for s in services] == ["velero"]
    ports = {p["name"] for p in services[0]["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_every_backup_alert_has_its_section() -> None:
    """Each alert of backup.yaml has its section in docs/alerts.md and a row in the Backups
    table (the runbook link itself is checked for every rule by test_rules.py)."""
    text = ALERTS_DOC.read_text(encoding="utf-8")
    obj = yaml.safe_load(Path(RULES).read_text(encoding="utf-8"))
    names = [r["alert"] for g in obj["spec"]["groups"] for r in g["rules"] if r.get("alert")]
    assert len(names) == 9
    for name in names:
        assert f"### `{name}`" in text, name
        assert f"| [`{name}`](#{name.lower()}) |" in text, name
