"""Running checkov (pinned in requirements-scan.txt, installed in `.venv/scan`) over the written
objects and the workflows, and judging its findings against the baseline (`baseline.py`).

One checkov process scans both: `-d <objects> --framework kubernetes` and `-f <workflow>...
--framework github_actions` (each framework reads only the files it understands), with
`--skip-download` (no call to the vendor's platform for guidelines: nothing leaves the machine).
checkov skips files under a hidden directory for Kubernetes (`kubernetes_utils.py`,
`get_folder_definitions`: `"/." in full_path`), so the objects must not be written below one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import REPO_ROOT
from .baseline import Baseline

SCAN_VENV = REPO_ROOT / ".venv" / "scan"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
FRAMEWORKS = ("kubernetes", "github_actions")
TIMEOUT = 300


@dataclass(frozen=True, order=True)
class Finding:
    check: str
    resource: str
    file: str
    name: str = ""
    suppression: str | None = None
    """The skip's reason, for a skipped check (None for a failed one)."""

    def __str__(self) -> str:
        return f"{self.check} {self.resource} ({self.file}): {self.name}"


def executable() -> Path | None:
    """checkov of `.venv/scan` (.ci/run makes it), else the one on PATH, else None."""
    candidate = SCAN_VENV / "bin" / "checkov"
    if candidate.is_file():
        return candidate
    found = shutil.which("checkov")
    return Path(found) if found else None


def command(checkov: Path, objects: Path, workflows: list[Path], *output: str) -> list[str]:
    return [
        str(checkov),
        "-d",
        str(objects),
        *(arg for path in workflows for arg in ("-f", str(path))),
        "--framework",
        *FRAMEWORKS,
        "--skip-download",
        "--quiet",
        *output,
    ]


def run(checkov: Path, objects: Path, workflows: list[Path]) -> list[dict[str, Any]]:
    """checkov's JSON report, one entry per framework that found files. Exit status 1 means
    "a check failed", anything else but 0 is a crash."""
    result = subprocess.run(
        command(checkov, objects, workflows, "-o", "json"),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        cwd=objects,  # no `.checkov.yaml` of the repository's or elsewhere is picked up
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov exit {result.returncode}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def findings(reports: list[dict[str, Any]], key: str = "failed_checks") -> list[Finding]:
    found = []
    for report in reports:
        for item in (report.get("results") or {}).get(key) or []:
            suppression = (item.get("check_result") or {}).get("suppress_comment")
            found.append(
                Finding(
                    check=item["check_id"],
                    resource=item["resource"],
                    file=str(item.get("file_path", "")).lstrip("/"),
                    name=item.get("check_name", ""),
                    suppression=suppression if key == "skipped_checks" else None,
                )
            )
    return sorted(set(found))


def unbaselined(failed: list[Finding], baseline: Baseline) -> list[Finding]:
    """The findings that the baseline does not skip: each must be fixed or added to it."""
    return [f for f in failed if not baseline.covers(f.resource, f.check)]


def stale(failed: list[Finding], baseline: Baseline) -> list[str]:
    """Each skip that no finding needs any more: a check skipped everywhere that fails
    nowhere, a check skipped on an object where it does not fail."""
    checks = {f.check for f in failed}
    pairs = {(f.resource, f.check) for f in failed}
    found = [f"everywhere: {c}" for c in baseline.everywhere if c not in checks]
    for resource, skipped in baseline.objects.items():
        for check in skipped:
            if check in baseline.everywhere:
                found.append(f"{resource}: {check}: skipped everywhere already")
            elif (resource, check) not in pairs:
                found.append(f"{resource}: {check}: no longer fails")
    return found
