"""Secret scanning of the repository (issue 15): detect-secrets over every tracked file.

`.secrets.baseline` (repository root) holds the reviewed findings: every one a fabricated test
value, a public identifier or a resource name, audited `is_secret: false`. Its settings (plugins,
filters, the exclusion of the vendored upstream data) are the scan's settings here. A finding
that is not in the baseline fails the test with its file and line; how to review one and update
the baseline: docs/delivery.md, "Secret scanning".
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from detect_secrets.__version__ import VERSION
from detect_secrets.core import baseline
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import transient_settings

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / ".secrets.baseline"


def tracked_files() -> list[str]:
    """The files Git tracks (relative to the repository root), as `detect-secrets scan` scans."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the secret scan needs `git ls-files`")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a Git checkout: the secret scan needs `git ls-files`")
    names = [name for name in listed.stdout.decode().split("\0") if name]
    # A tracked file deleted in the work tree has nothing to scan.
    return [name for name in names if (REPO / name).is_file()]


def test_no_secret_outside_the_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    files = tracked_files()
    config = baseline.load_from_file(str(BASELINE))
    # Relative names: the baseline's exclusion (`^upstream/...`) and its keys are relative.
    monkeypatch.chdir(REPO)
    with transient_settings(config):
        known = SecretsCollection.load_from_baseline(config)
        found = SecretsCollection()
        # In parallel (one process per core): the scan takes about 10 s of CPU.
        found.scan_files(*files)
    new = sorted((filename, secret.line_number, secret.type) for filename, secret in found - known)
    assert not new, (
        "detect-secrets found secrets that are not in .secrets.baseline (remove them, or review "
        "and add a false positive as docs/delivery.md 'Secret scanning' says):\n"
        + "\n".join(f"  {filename}:{line}: {kind}" for filename, line, kind in new)
    )


def test_every_baseline_entry_is_audited_as_not_a_secret() -> None:
    results = baseline.load_from_file(str(BASELINE))["results"]
    assert results, "the baseline lists no finding: was it generated from the repository root?"
    unaudited = [
        f"{filename}:{entry['line_number']}: {entry['type']} (is_secret: "
        f"{entry.get('is_secret', 'not audited')})"
        for filename, entries in sorted(results.items())
        for entry in entries
        if entry.get("is_secret") is not False
    ]
    assert not unaudited, (
        "entries of .secrets.baseline not audited as false positives "
        "(`detect-secrets audit .secrets.baseline`; a real secret must be removed and rotated, "
        "never baselined):\n" + "\n".join(f"  {line}" for line in unaudited)
    )


def test_baseline_keeps_the_reviewed_settings() -> None:
    """Written by the pinned detect-secrets; nothing hidden but the vendored upstream data."""
    config = baseline.load_from_file(str(BASELINE))
    assert config["version"] == VERSION, "regenerate the baseline with the pinned detect-secrets"
    regex_filters = {
        used["path"].rsplit(".", 1)[-1]: used.get("pattern", [])
        for used in config["filters_used"]
        if used["path"].startswith("detect_secrets.filters.regex.")
    }
    # No line or secret exclusions (they would hide findings everywhere); one folder exclusion.
    assert set(regex_filters) == {"should_exclude_file"}
    (excluded,) = regex_filters["should_exclude_file"]
    assert excluded.startswith("^upstream/(charts|talos|argocd)/")
