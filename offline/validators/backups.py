"""The stack's backups, read from the plan and the GitOps tree it delivers: the R2 bucket and
its token (components/backup), the etcd snapshot CronJob and the Velero Schedules
(gitops/platform). Each must be there, and in prod their schedules must keep the recovery point
objectives docs/recovery.md promises (etcd <= 1 h, volumes <= 24 h). The plan prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.backup.names import ETCD_BACKUP_NAMESPACE, VELERO_NAMESPACE

from . import gitops
from .cron import CronError, gaps

BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
TOKEN = "cloudflare:index/accountToken:AccountToken"
LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
LOCK = "cloudflare:index/r2BucketLock:R2BucketLock"
ETCD_CRONJOB = "talos-backup"
RPO_MINUTES = {"etcd": 60, "volumes": 24 * 60}
"""The prod recovery point objectives (docs/recovery.md): the longest gap between two runs."""
DAY_SECONDS = 86_400


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
