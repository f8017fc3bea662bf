"""Run the policy pack (`policy/rules.py`) over a plan document, without the Pulumi engine.

Each recorded resource becomes what the engine would hand the pack: `ResourceValidationArgs` for
resource policies, `PolicyResource`s (with parents and dependencies linked) for stack policies,
their inputs behind the SDK's unknown-checking proxy. Two things differ from a real run: the
environment is given, and secret values arrive marked as `[secret]`, so `secrets-not-plain` can
tell them apart (the SDK cannot; see policy/resource_rules.py).

    python -m offline.validators.policy_check PLAN.json [--environment dev|staging|prod]

Exit status: 0 no mandatory violation; 1 a mandatory violation, or the file is not a plan
document; 2 a usage error or an unreadable file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from ..diff import plan_problem
from ..paths import REPO_ROOT

PACK_DIR = REPO_ROOT / "policy"
RULES_FILE = PACK_DIR / "rules.py"
RULES_MODULE = "talos_platform_policy_rules"
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

Document = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    """The resource in violation; empty for the stack as a whole."""
    message: str
    mandatory: bool

    def __str__(self) -> str:
        level = "mandatory" if self.mandatory else "advisory"
        where = f" [{self.urn}]" if self.urn else ""
        return f"policy {self.policy} ({level}): {self.message}{where}"


@cache
def rules() -> ModuleType:
    """`policy/rules.py`, loaded from its file the way the Pulumi CLI sees the pack (a folder,
    not a package of this project; under pytest `policy` may name the tests' package). Its sibling
    modules (`reading`, `resource_rules`, ...) are imported by their plain names, so the folder is
    on `sys.path` while it loads, as `policy/__main__.py` puts it there for the CLI."""
    spec = importlib.util.spec_from_file_location(RULES_MODULE, RULES_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"{RULES_FILE}: cannot be loaded as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[RULES_MODULE] = module
    sys.path.insert(0, str(PACK_DIR))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PACK_DIR))
    return module


def _options(entry: Document) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(entry.get("protect")),
        ignore_changes=list(entry.get("ignore_changes") or []),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=entry.get("parent") or None,
    )


def _providers(entries: list[Document]) -> dict[str, PolicyProviderResource]:
    return {
        e["urn"]: PolicyProviderResource(
            e["type"], unknown_checking_proxy(e.get("inputs") or {}), e["urn"], e["name"]
        )
        for e in entries
        if e["type"].startswith("pulumi:providers:")
    }


def _stack_resources(entries: list[Document]) -> list[PolicyResource]:
    providers = _providers(entries)
    by_urn: dict[str, PolicyResource] = {}
    for e in entries:
        by_urn[e["urn"]] = PolicyResource(
            e["type"],
            unknown_checking_proxy(e.get("inputs") or {}),
            e["urn"],
            e["name"],
            _options(e),
            providers.get(e.get("provider") or ""),
            None,
            [],
            {},
        )
    for e in entries:
        resource = by_urn[e["urn"]]
        resource.parent = by_urn.get(e.get("parent") or "")
        resource.dependencies = [by_urn[d] for d in e.get("dependencies") or [] if d in by_urn]
    return list(by_urn.values())


def _run(
    name: str,
    mandatory: bool,
    check: Callable[[Callable[[str, str | None], None]], Any],
    found: list[Violation],
    default_urn: str = "",
) -> None:
    def report(message: str, urn: str | None = None) -> None:
        found.append(Violation(name, urn or default_urn, message, mandatory))

    try:
        check(report)
    except _NotApplicableError:
        return
    except UnknownValueError as exc:
        found.append(Violation(name, default_urn, f"cannot be checked: {exc.message}", False))


def check_document(doc: Any) -> list[Document]:
    """The resource entries of a plan document; ValueError naming what is wrong otherwise."""
    problem = plan_problem(doc)
    if problem:
        raise ValueError(f"not a plan document: {problem}")
    return doc["resources"]


def policy_violations(doc: Document, environment: str) -> list[Violation]:
    """Every violation of every policy in the pack over the plan `doc` of `environment`."""
    pack = rules()
    if environment not in pack.ENVIRONMENTS:
        raise ValueError(
            f"environment {environment!r}: expected one of {', '.join(pack.ENVIRONMENTS)}"
        )
    entries = check_document(doc)
    providers = _providers(entries)
    config = {"environment": environment, "secrets_marked": True}
    found: list[Violation] = []
    for policy in pack.POLICIES:
        level = pack.enforcement_of(policy)
        if level == EnforcementLevel.DISABLED:
            continue
        mandatory = level in (EnforcementLevel.MANDATORY, EnforcementLevel.REMEDIATE)
        if isinstance(policy, ResourceValidationPolicy):
            for e in entries:
                args = ResourceValidationArgs(
                    e["type"],
                    unknown_checking_proxy(e.get("inputs") or {}),
                    e["urn"],
                    e["name"],
                    _options(e),
                    providers.get(e.get("provider") or ""),
                    dict(config),
                )
                _run(
                    policy.name,
                    mandatory,
                    lambda report, a=args, p=policy: p.validate(a, report),
                    found,
                    e["urn"],
                )
        else:
            stack_args = StackValidationArgs(_stack_resources(entries), dict(config))
            _run(
                policy.name,
                mandatory,
                lambda report, a=stack_args, p=policy: p.validate(a, report),
                found,
            )
    return found


def report_lines(violations: list[Violation]) -> list[str]:
    return [str(v) for v in sorted(violations, key=lambda v: (not v.mandatory, v.policy, v.urn))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline.validators.policy_check",
        description="Run the policy pack over a plan document (python -m offline.plan --format "
        "json).",
    )
    parser.add_argument("plan", type=Path, help="plan document (JSON)")
    parser.add_argument("--environment", help="dev, staging or prod (default: the plan's stack)")
    args = parser.parse_args(argv)
    try:
        text = args.plan.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: {args.plan}: cannot be read ({exc.strerror})", file=sys.stderr)
        return EXIT_USAGE
    try:
        doc = json.loads(text)
        check_document(doc)
        violations = policy_violations(doc, args.environment or str(doc["stack"]))
    except ValueError as exc:  # json.JSONDecodeError included
        print(f"error: {args.plan}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for line in report_lines(violations):
        print(line)
    mandatory = sum(v.mandatory for v in violations)
    print(
        f"{len(violations)} policy violation(s), {mandatory} mandatory",
        file=sys.stderr,
    )
    return EXIT_INVALID if mandatory else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
