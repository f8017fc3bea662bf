"""pip-audit's JSON reports as one SARIF 2.1.0 log, for GitHub code scanning
(.github/workflows/scan.yml; docs/supply-chain.md, "Scanners").

    python -m tools.pip_audit_sarif --out audit.sarif requirements-dev.txt=dev.json ...

Each argument pairs the requirements file that was audited with pip-audit's report of it
(`pip-audit -r FILE -f json --aliases --desc`, without `--strict`; pip-audit 2.10.1 has no SARIF
format of its own: `pip_audit/_format/json.py` writes `{"dependencies": [{"name", "version",
"vulns": [{"id", "fix_versions", "aliases", "description"}]}], "fixes": [...]}`, or `{"name",
"skip_reason"}` for a dependency it could not audit). One rule per advisory id; one result per
vulnerable package and advisory, at the line of the file that pins the package (line 1 for a
package it pulls in indirectly). Two more rules, each result an error too, for what was not
audited: a package pip-audit skipped (`pip-audit-skipped`: with `--strict` pip-audit would exit
at it before writing any report, pip_audit/_cli.py `_fatal`), and a requirements file whose audit
wrote no readable report (`pip-audit-no-report`: pip-audit exits before writing when the file
cannot be resolved or the vulnerability service cannot be reached, with or without `--strict`).

The SARIF is written in every case; the exit status is 1 when it holds any result (each is also
printed on stderr, for the log of a run that does not upload), 0 when it holds none.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

TOOL = "pip-audit"
TOOL_URI = "https://pypi.org/project/pip-audit/"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SKIPPED_RULE = "pip-audit-skipped"
NO_REPORT_RULE = "pip-audit-no-report"


def canonical(name: str) -> str:
    """PEP 503's normalized name (what pip-audit reports)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pin_lines(text: str) -> dict[str, int]:
    """Package -> the line that names it in a requirements file."""
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        if match := re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0]):
            found.setdefault(canonical(match[1]), number)
    return found


def _location(uri: str, line: int) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": line},
        }
    }


def _result(rule_id: str, text: str, uri: str, line: int, fingerprint: str) -> dict[str, Any]:
    """One finding, an error at its requirements line (`fingerprint` keeps it one alert)."""
    return {
        "ruleId": rule_id,
        "level": "error",
        "message": {"text": text},
        "locations": [_location(uri, line)],
        "partialFingerprints": {"package": fingerprint},
    }


def to_sarif(audits: list[tuple[str, dict[str, Any] | None, str]]) -> dict[str, Any]:
    """(requirements file as a repository path, pip-audit's report or None where it wrote none,
    the file's text) -> SARIF."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for uri, report, text in audits:
        if report is None:
            rules.setdefault(NO_REPORT_RULE, _rule(NO_REPORT_RULE, NO_REPORT_DESCRIPTION, TOOL_URI))
            results.append(
                _result(
                    NO_REPORT_RULE,
                    f"{uri} was not audited: pip-audit wrote no report",
                    uri,
                    1,
                    f"{uri}/{NO_REPORT_RULE}",
                )
            )
            continue
        lines = pin_lines(text)
        for dep in report.get("dependencies", []):
            name = str(dep["name"])
            line = lines.get(canonical(name), 1)
            if "skip_reason" in dep:
                rules.setdefault(SKIPPED_RULE, _rule(SKIPPED_RULE, SKIPPED_DESCRIPTION, TOOL_URI))
                results.append(
                    _result(
                        SKIPPED_RULE,
                        f"{name} was not audited: {dep['skip_reason']}",
                        uri,
                        line,
                        f"{canonical(name)}/{SKIPPED_RULE}",
                    )
                )
                continue
            for vuln in dep.get("vulns", []):
                advisory = str(vuln["id"])
                aliases = ", ".join(vuln.get("aliases") or [])
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
                summary = f"{name} {dep['version']}: {advisory}" + (
                    f" ({aliases})" if aliases else ""
                )
                rules.setdefault(advisory, _rule(advisory, vuln.get("description") or summary))
                results.append(
                    _result(
                        advisory,
                        f"{summary}; fixed in {fixes}",
                        uri,
                        line,
                        f"{canonical(name)}/{advisory}",
                    )
                )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "informationUri": TOOL_URI,
                        "rules": [rules[key] for key in sorted(rules)],
                    }
                },
                "results": results,
            }
        ],
    }


SKIPPED_DESCRIPTION = (
    "A package was not audited: pip-audit skipped it (its `skip_reason`: not on PyPI, a URL or "
    "editable requirement, no version)."
)
NO_REPORT_DESCRIPTION = (
    "A requirements file was not audited: pip-audit wrote no report (the file could not be "
    "resolved, or the vulnerability service could not be reached: the job log says which)."
)


def _rule(rule_id: str, description: str, help_uri: str | None = None) -> dict[str, Any]:
    """A rule; an advisory's help is its OSV page, this converter's own rules' pip-audit's."""
    short = description.strip().splitlines()[0][:200] if description.strip() else rule_id
    return {
        "id": rule_id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": description.strip() or rule_id},
        "helpUri": help_uri or f"https://osv.dev/vulnerability/{rule_id}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.pip_audit_sarif",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="the SARIF file to write")
    p.add_argument("audits", nargs="+", metavar="REQUIREMENTS=REPORT")
    args = p.parse_args(argv)
    audits: list[tuple[str, dict[str, Any] | None, str]] = []
    for pair in args.audits:
        requirements, sep, report = pair.partition("=")
        if not sep:
            p.error(f"{pair}: expected REQUIREMENTS=REPORT")
        try:
            text = Path(requirements).read_text()
        except OSError as exc:
            p.error(str(exc))
        try:
            data = json.loads(Path(report).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"{requirements}: no readable pip-audit report: {exc}", file=sys.stderr)
            data = None
        audits.append((requirements, data, text))
    sarif = to_sarif(audits)
    args.out.write_text(json.dumps(sarif, indent=2) + "\n")
    results = sarif["runs"][0]["results"]
    for result in results:
        region = result["locations"][0]["physicalLocation"]
        where = f"{region['artifactLocation']['uri']}:{region['region']['startLine']}"
        print(f"{where}: {result['level']}: {result['message']['text']}", file=sys.stderr)
    return 1 if results else 0


if __name__ == "__main__":
    raise SystemExit(main())
