"""The stack's backups, read from the plan and the GitOps tree it delivers: the R2 bucket and
its token (components/backup), the etcd snapshot CronJob and the Velero Schedules
(gitops/platform). Each must be there, and in prod their schedules must keep the recovery point
objectives docs/recovery.md promises (etcd <= 1 h, volumes <= 24 h). The plan prints them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from components.backup.names import ETCD_BACKUP_NAMESPACE, VELERO_NAMESPACE

from . import gitops
from .cron import CronError, gaps
from .gitops.velero_pods import backed_up_volumes, rendered_workloads

BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
TOKEN = "cloudflare:index/accountToken:AccountToken"
LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
LOCK = "cloudflare:index/r2BucketLock:R2BucketLock"
ETCD_CRONJOB = "talos-backup"
RPO_MINUTES = {"etcd": 60, "volumes": 24 * 60}
"""The prod recovery point objectives (docs/recovery.md): the longest gap between two runs."""
DAY_SECONDS = 86_400
NOT_BACKED_UP = {
    "monitoring": "Prometheus' metrics: scraped again after a restore, history bounded by the "
    "retention anyway (docs/recovery.md, what is not covered)",
}
"""Namespaces with volumes that on purpose no Velero Schedule covers, and why."""


@dataclass
class BackupReport:
    problems: list[str] = field(default_factory=list)
    ran: str = ""
    table: str = ""


def _days(seconds: object) -> str:
    return f"{int(seconds) // DAY_SECONDS} d" if isinstance(seconds, int | float) else "?"


def _every(minutes: int) -> str:
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _one(doc: dict[str, Any], token: str) -> dict[str, Any] | None:
    return next((r for r in doc["resources"] if r["type"] == token), None)


def _rule(resource: dict[str, Any] | None, rule_id: str) -> dict[str, Any]:
    rules = (resource or {}).get("inputs", {}).get("rules") or []
    return next((r for r in rules if r.get("id") == rule_id), {})


def evaluate(
    doc: dict[str, Any], rendered: dict[str, list[gitops.RenderedObject]] | None, environment: str
) -> BackupReport:
    report = BackupReport()
    bucket, token = _one(doc, BUCKET), _one(doc, TOKEN)
    if bucket is None or token is None:
        report.problems.append(
            "backups: the plan has no R2 bucket and token (components/backup): nothing would "
            "leave the cluster"
        )
        return report
    objects = [o for items in (rendered or {}).values() for o in items]
    etcd = [
        o
        for o in objects
        if o.manifest.get("kind") == "CronJob"
        and o.manifest["metadata"].get("name") == ETCD_CRONJOB
        and o.manifest["metadata"].get("namespace") == ETCD_BACKUP_NAMESPACE
    ]
    schedules = [
        o
        for o in objects
        if o.manifest.get("kind") == "Schedule"
        and str(o.manifest.get("apiVersion", "")).startswith("velero.io/")
        and o.manifest["metadata"].get("namespace") == VELERO_NAMESPACE
    ]
    if rendered is not None and not etcd:
        report.problems.append(
            f"backups: the GitOps tree has no CronJob {ETCD_BACKUP_NAMESPACE}/{ETCD_CRONJOB}: "
            "no etcd snapshot would be taken (gitops/platform/addons/etcd-backup)"
        )
    if rendered is not None and not schedules:
        report.problems.append(
            f"backups: the GitOps tree has no Velero Schedule in {VELERO_NAMESPACE}: no volume "
            "would be backed up (gitops/platform/addons/velero)"
        )
    lifecycle = _rule(_one(doc, LIFECYCLE), "expire-etcd-snapshots")
    lock = _rule(_one(doc, LOCK), "keep-etcd-snapshots")
    kept = _days(lifecycle.get("deleteObjectsTransition", {}).get("condition", {}).get("maxAge"))
    locked = _days(lock.get("condition", {}).get("maxAgeSeconds"))
    report.problems += _stopped(etcd, schedules) + _uncovered(rendered, schedules)
    lines = [
        f"Backups to R2 bucket {bucket['inputs'].get('name')} (token {token['name']}: its "
        "objects only):"
    ]
    entries = [("etcd", o, f"encrypted (age), kept {kept}, locked {locked}") for o in etcd]
    for o in schedules:
        template = o.manifest["spec"].get("template", {})
        namespaces = ", ".join(template.get("includedNamespaces") or ["*"])
        ttl = template.get("ttl", "720h (Velero's default)")
        entries.append(("volumes", o, f"kopia, kept {ttl}: {namespaces}"))
    longest: dict[str, int] = {}
    for kind, obj, what in entries:
        meta, schedule = obj.manifest["metadata"], str(obj.manifest["spec"].get("schedule", ""))
        name = f"{meta['namespace']}/{meta['name']}"
        try:
            _, gap = gaps(schedule)
        except CronError as exc:
            report.problems.append(f"{obj.origin}: {name}: schedule {exc}")
            continue
        longest[kind] = max(longest.get(kind, 0), gap)
        lines.append(f"  {kind:<8} {schedule:<12} every {_every(gap):<7} {what}  ({name})")
        ttl = _duration_minutes(obj.manifest["spec"].get("template", {}).get("ttl"))
        if kind == "volumes" and ttl is not None and ttl < 2 * gap:
            report.problems.append(
                f"{obj.origin}: {name}: ttl {obj.manifest['spec']['template']['ttl']!r} is "
                f"shorter than two runs ({_every(2 * gap)}): a backup would expire before the "
                "next one is known good"
            )
        if environment == "prod" and gap > RPO_MINUTES[kind]:
            report.problems.append(
                f"{obj.origin}: {name}: schedule {schedule!r} leaves up to {_every(gap)} between "
                f"runs; prod's recovery point objective for {kind} is "
                f"{_every(RPO_MINUTES[kind])} (docs/recovery.md)"
            )
    report.table = "\n".join(lines) + "\n"
    report.ran = "Backups " + ", ".join(
        f"{kind} every {_every(gap)}" for kind, gap in sorted(longest.items())
    )
    return report


def _stopped(
    etcd: list[gitops.RenderedObject], schedules: list[gitops.RenderedObject]
) -> list[str]:
    """A suspended CronJob or a paused Schedule takes no backup, whatever its schedule says."""
    problems = []
    for obj, flag in [*((o, "suspend") for o in etcd), *((o, "paused") for o in schedules)]:
        if obj.manifest.get("spec", {}).get(flag) is True:
            meta = obj.manifest["metadata"]
            problems.append(
                f"{obj.origin}: {meta['namespace']}/{meta['name']}: spec.{flag} is true: no "
                "backup would run (set it back before merging)"
            )
    return problems


def _uncovered(
    rendered: dict[str, list[gitops.RenderedObject]] | None,
    schedules: list[gitops.RenderedObject],
) -> list[str]:
    """Namespaces whose workloads have volumes that no Schedule includes (NOT_BACKED_UP
    aside): a new stateful app must be added to the Schedule, or declared not backed up."""
    if rendered is None or not schedules:
        return []
    included: set[str] = set()
    for obj in schedules:
        template = obj.manifest.get("spec", {}).get("template", {})
        names = template.get("includedNamespaces") or ["*"]
        if "*" in names:
            return []
        included.update(str(n) for n in names)
    stateful: dict[str, list[str]] = {}
    for namespace, manifest in rendered_workloads(rendered, set()):
        if backed_up_volumes(manifest, True):
            stateful.setdefault(namespace, []).append(
                f"{manifest['kind']} {manifest['metadata']['name']}"
            )
    return [
        f"backups: namespace {namespace} has volumes ({', '.join(sorted(workloads))}) that no "
        f"Velero Schedule includes: add it to the Schedule's includedNamespaces "
        "(gitops/platform/addons/velero), or to offline/validators/backups.py NOT_BACKED_UP "
        "with the reason"
        for namespace, workloads in sorted(stateful.items())
        if namespace not in included and namespace not in NOT_BACKED_UP
    ]


def _duration_minutes(text: object) -> int | None:
    """A Go duration as Velero writes a TTL (`720h`, `720h0m0s`, `90m`), in minutes."""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, _ = (int(g or 0) for g in match.groups())
    return hours * 60 + minutes
