"""tools/pip_audit_sarif.py: pip-audit's JSON reports as the SARIF scan.yml uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.pip_audit_sarif import main, pin_lines, to_sarif

REQUIREMENTS = "# pins\n-r requirements.txt\nPyYAML==6.0.4  # a comment\nruamel.yaml==0.19.1\n"
#: The shape pip-audit 2.10.1 writes (pip_audit/_format/json.py) with --aliases --desc.
REPORT = {
    "dependencies": [
        {"name": "pyyaml", "version": "6.0.4", "vulns": []},
        {
            "name": "ruamel-yaml",
            "version": "0.19.1",
            "vulns": [
                {
                    "id": "PYSEC-0000-1",
                    "fix_versions": ["0.19.2"],
                    "aliases": ["CVE-0000-1"],
                    "description": "Something bad.\nMore.",
                }
            ],
        },
        {"name": "idna", "version": "3.10", "vulns": [{"id": "GHSA-x", "fix_versions": []}]},
        {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI"},
    ],
    "fixes": [],
}


def test_pins_are_found_by_their_normalized_name() -> None:
    assert pin_lines(REQUIREMENTS) == {"pyyaml": 3, "ruamel-yaml": 4}


def test_each_vulnerability_and_skipped_package_is_a_result_at_its_pin() -> None:
    sarif = to_sarif([("requirements-dev.txt", REPORT, REQUIREMENTS)])
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "GHSA-x",
        "PYSEC-0000-1",
        "pip-audit-skipped",
    ]
    found = [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["message"]["text"],
        )
        for r in run["results"]
    ]
    assert found == [
        (
            "PYSEC-0000-1",
            "error",
            4,
            "ruamel-yaml 0.19.1: PYSEC-0000-1 (CVE-0000-1); fixed in 0.19.2",
        ),
        ("GHSA-x", "error", 1, "idna 3.10: GHSA-x; fixed in no fixed version yet"),
        (
            "pip-audit-skipped",
            "error",
            1,
            "private-pkg was not audited: Dependency not found on PyPI",
        ),
    ]
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "requirements-dev.txt"


def test_a_clean_audit_is_an_empty_run_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text(REQUIREMENTS)
    (tmp_path / "report.json").write_text(json.dumps({"dependencies": [], "fixes": []}))
    out = tmp_path / "audit.sarif"
    assert main(["--out", str(out), f"{tmp_path / 'req.txt'}={tmp_path / 'report.json'}"]) == 0
    assert json.loads(out.read_text())["runs"][0]["results"] == []


def test_a_skipped_package_alone_fails_after_the_sarif_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --strict pip-audit 2.10.1 exits 0 when it only skipped packages (no vulnerability:
    pip_audit/_cli.py); the converter's exit is what fails the job then."""
    (tmp_path / "req.txt").write_text(REQUIREMENTS)
    skipped = {"dependencies": [{"name": "PyYAML", "skip_reason": "not on PyPI"}], "fixes": []}
    (tmp_path / "report.json").write_text(json.dumps(skipped))
    out = tmp_path / "audit.sarif"
    assert main(["--out", str(out), f"{tmp_path / 'req.txt'}={tmp_path / 'report.json'}"]) == 1
    [result] = json.loads(out.read_text())["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("pip-audit-skipped", "error")
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert "req.txt:3: error: PyYAML was not audited: not on PyPI" in capsys.readouterr().err


def test_a_file_without_a_report_is_an_error_result_beside_the_others(tmp_path: Path) -> None:
    """pip-audit exits before writing when a file cannot be resolved (with or without --strict):
    that file is a result of its own, and the other files' findings are still written."""
    (tmp_path / "req.txt").write_text(REQUIREMENTS)
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    (tmp_path / "broken.json").write_text("{")
    out = tmp_path / "audit.sarif"
    pairs = [
        f"{tmp_path / 'req.txt'}={tmp_path / 'report.json'}",
        f"{tmp_path / 'req.txt'}={tmp_path / 'missing.json'}",
        f"{tmp_path / 'req.txt'}={tmp_path / 'broken.json'}",
    ]
    assert main(["--out", str(out), *pairs]) == 1
    results = json.loads(out.read_text())["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == [
        "PYSEC-0000-1",
        "GHSA-x",
        "pip-audit-skipped",
        "pip-audit-no-report",
        "pip-audit-no-report",
    ]
    assert {r["level"] for r in results} == {"error"}


def test_an_unreadable_requirements_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "--out",
                str(tmp_path / "a.sarif"),
                f"{tmp_path / 'no.txt'}={tmp_path / 'report.json'}",
            ]
        )
    assert exit_.value.code == 2
