"""The offline plan: run the program for one stack under Pulumi's mock runtime and show the graph.

    python -m offline.plan --stack dev [--stack-file FILE] [--format text|json|mermaid|mermaid-md]
                           [--baseline PLAN.json [--allow-loss NAME]... [--allow-loss-file F]]

After printing the plan it checks what the stack would create against the upstream schemas
(`offline/validators/checks.py`), against the repository's other stack files
(`offline/validators/fleet.py`)
and runs the policy pack (`policy/rules.py`). With
`--baseline` (the JSON plan of what runs now, for example of the base branch) it also fails when
the change would replace or delete a protected resource, which `pulumi up` refuses, unless
`--allow-loss` names it, or more than one control plane (`offline/validators/change_gate.py`;
`offline/plan_diff.py` decides what is replaced). Its last line on stderr names every check
that ran and what it covered (`checks passed: ...`, or `checks ran: ...` when one failed).
Exit status: 0 the config is valid, the plan printed and every check passed; 1 the config is
invalid, a check failed, a mandatory policy is violated or a protected resource would be lost
(every problem on stderr, no traceback); 2 a usage error (bad arguments, a missing stack or
baseline file).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import EnforcementLevel

from config.edge import is_edge, validate_edge
from config.errors import NAMESPACE, ConfigError, redact

from . import prefetch
from .edge import cluster_outputs
from .graph import plan_document
from .plan_diff import PlanFileError, load_plan
from .recorder import Registration
from .render import RENDERERS
from .run import ProgramRun, run_program
from .stackfile import StackConfigValues, StackFileError, read_stack_config
from .validators import edge as edge_check
from .validators import gitops, helm_render
from .validators.change_gate import AllowanceFileError, change_problems, read_allowances
from .validators.checks import run_checks
from .validators.fleet import plan_check
from .validators.policy_check import Violation, policy_violations, report_lines, rules

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
REPORT_LIMIT = 4000
"""Characters of one check's report line (a schema error can quote a whole object)."""
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away (`... | head`): as a shell reports a SIGPIPE."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m offline.plan",
        description="Plan a stack offline: the whole resource graph, no CLI, plugins or network.",
    )
    p.add_argument("--stack", required=True, help="stack name: dev, staging or prod")
    p.add_argument("--stack-file", type=Path, help="stack file (default: Pulumi.<stack>.yaml)")
    p.add_argument("--format", choices=sorted(RENDERERS), default="text", help="output format")
    p.add_argument(
        "--baseline",
        type=Path,
        help="the JSON plan of what runs now: fail when a protected resource would be lost, or "
        "more than one control plane replaced or deleted",
    )
    p.add_argument(
        "--allow-loss",
        action="append",
        default=[],
        metavar="NAME",
        help="a protected resource (name or URN) this change means to replace or delete",
    )
    p.add_argument(
        "--allow-loss-file", type=Path, help="allowances, one name or URN per line (# comments)"
    )
    return p


def start_renders(values: dict[str, str]) -> None:
    """Render the stack's GitOps root (its environment's, or its cluster's overlay of it:
    `gitops.path`) in the background while the SDKs import and the program runs
    (offline/prefetch.py): the checks find it done. A config the checks will refuse starts
    nothing."""
    try:
        path = str(json.loads(values[f"{NAMESPACE}:gitops"])["path"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return
    root = gitops.root_of_path(path)
    if root is not None:
        gitops.prefetch_environment(root, values.get(f"{NAMESPACE}:kubernetes_version") or None)


def prefetch_release(registration: Registration, kubernetes_version: str) -> None:
    """Start `helm template` for a Release the moment the program registers it."""
    if registration.type == helm_render.RELEASE_TYPE:
        resource = {"name": registration.name, "inputs": registration.inputs}
        helm_render.prefetch_release(resource, kubernetes_version)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if (args.allow_loss or args.allow_loss_file) and not args.baseline:
        print("error: --allow-loss and --allow-loss-file need --baseline", file=sys.stderr)
        return EXIT_USAGE
    try:
        baseline = load_plan(args.baseline) if args.baseline else None
        allowed = list(args.allow_loss)
        if args.allow_loss_file:
            allowed += read_allowances(args.allow_loss_file)
    except (PlanFileError, AllowanceFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        values = read_stack_config(args.stack, args.stack_file)
    except StackFileError as exc:
        kind = "usage" if "no such file" in str(exc) or "cannot be read" in str(exc) else "invalid"
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if kind == "usage" else EXIT_INVALID
    if is_edge(values.values):
        return plan_edge(args, values, baseline, allowed)
    kubernetes_version = values.values.get(f"{NAMESPACE}:kubernetes_version", "")
    start_renders(values.values)
    try:
        run = run_program(
            values.values,
            values.secret_keys,
            args.stack,
            on_register=lambda reg: prefetch_release(reg, kubernetes_version),
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    doc = show(args, values, run)
    # The add-ons are checked against this plan's stack values (a --stack-file included).
    platform = gitops.platform_from_values(
        values.values, str(args.stack_file or f"Pulumi.{args.stack}.yaml")
    )
    checks = run_checks(doc, kubernetes_version, platform)
    # The repository's stack files checked together, this stack's (a --stack-file) in its place.
    fleet = plan_check(args.stack, values)
    checks.problems += fleet.problems
    checks.notes += fleet.notes
    checks.ran.append(fleet.ran)
    if args.format == "text" and checks.node_table:
        sys.stdout.write("\n" + checks.node_table.rstrip("\n") + "\n")
    if args.format == "text" and checks.backup_table:
        sys.stdout.write("\n" + checks.backup_table)
    return finish(args, values, doc, checks.problems, checks.notes, checks.ran, baseline, allowed)


def show(args: argparse.Namespace, values: StackConfigValues, run: ProgramRun) -> dict[str, Any]:
    """Print the plan of `run` in the chosen format (and which secrets are placeholders)."""
    if values.placeholders:
        print(
            "note: offline placeholders stand in for secrets: " + ", ".join(values.placeholders),
            file=sys.stderr,
        )
    doc = plan_document(run)
    sys.stdout.write(RENDERERS[args.format](doc))
    return doc


def finish(
    args: argparse.Namespace,
    values: StackConfigValues,
    doc: dict[str, Any],
    problems: list[str],
    notes: list[str],
    ran: list[str],
    baseline: dict[str, Any] | None,
    allowed: list[str],
) -> int:
    """The end of every plan: its notes and problems (with the change gate's, given a
    baseline), the policy pack, the `checks ...` line, and the exit status."""
    # The checks quote what they found (a values path, a revision, a URL): never a credential.
    for note in notes:
        print(f"note: {redact(note, REPORT_LIMIT)}", file=sys.stderr)
    if baseline is not None:
        problems = problems + change_problems(baseline, doc, allowed)
    if problems:
        print(f"plan checks failed ({len(problems)} problem(s)):", file=sys.stderr)
        for problem in problems:
            print(f"  - {redact(problem, REPORT_LIMIT)}", file=sys.stderr)
    environment = values.values.get(f"{NAMESPACE}:environment", args.stack)
    violations = policy_violations(doc, environment)
    for line in report_lines(violations):
        print(line, file=sys.stderr)
    failed = bool(problems) or any(v.mandatory for v in violations)
    print(checks_line(ran, violations, baseline is not None, failed), file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


def plan_edge(
    args: argparse.Namespace,
    values: StackConfigValues,
    baseline: dict[str, Any] | None,
    allowed: list[str],
) -> int:
    """The plan of an edge stack: its cluster stacks run first (their outputs are what its
    StackReferences read), then the edge; the checks are the edge's, the fleet's and the
    policies' (an edge has no cluster to place, render or schedule)."""
    edge_config = validate_edge(values.values, values.secret_keys)
    if edge_config.config is None:
        print(str(ConfigError(edge_config.problems)), file=sys.stderr)
        return EXIT_INVALID
    clusters = cluster_outputs(edge_config.config.edge.stack_names())
    if clusters.problems:
        print("the edge's cluster stacks do not plan:", file=sys.stderr)
        for problem in clusters.problems:
            print(f"  - {redact(problem, REPORT_LIMIT)}", file=sys.stderr)
        return EXIT_INVALID
    try:
        run = run_program(
            values.values, values.secret_keys, args.stack, stack_outputs=clusters.outputs
        )
    except pulumi.RunError as exc:  # a cluster's outputs the edge cannot use (stacks/edge.py)
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    doc = show(args, values, run)
    edge = edge_check.evaluate(doc)
    fleet = plan_check(args.stack, values)
    if args.format == "text" and edge.table:
        sys.stdout.write("\n" + edge.table)
    ran = [edge.ran or "edge 0 load balancers", fleet.ran]
    problems = edge.problems + fleet.problems
    return finish(args, values, doc, problems, fleet.notes, ran, baseline, allowed)


def checks_line(ran: list[str], violations: list[Violation], baseline: bool, failed: bool) -> str:
    """One line naming every check that ran and what it covered, for the pull-request comment:
    `checks passed: ...` when all passed, `checks ran: ...` otherwise (the problems are above)."""
    pack = rules()
    enforced = sum(pack.enforcement_of(p) != EnforcementLevel.DISABLED for p in pack.POLICIES)
    advisory = sum(not v.mandatory for v in violations)
    policies = f"policies {enforced}" + (f" ({advisory} advisory finding(s))" if advisory else "")
    done = [*ran, policies, *(["changes against the baseline"] if baseline else [])]
    return f"checks {'ran' if failed else 'passed'}: {', '.join(done)}"


def exit_now(code: int) -> None:
    """Flush and leave without tearing the interpreter down: freeing the SDKs' ~400k objects
    one by one costs about a second and does nothing for a command that is done. A reader that
    went away makes it 141 (as a shell reports SIGPIPE), an output that cannot be written 1."""
    prefetch.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_BROKEN_PIPE
    except OSError as exc:
        print(f"error: the output cannot be written ({exc.strerror})", file=sys.stderr)
        code = EXIT_INVALID
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        status = main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = EXIT_BROKEN_PIPE
    except OSError as exc:  # stdout full or gone: say so, never a traceback
        print(f"error: the output cannot be written ({exc.strerror})", file=sys.stderr)
        status = EXIT_INVALID
    exit_now(status)
