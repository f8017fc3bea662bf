"""`python -m tools.recover --stack STACK [--plan PLAN.json] [--scenario NAME [--run [--yes]]]`:
list the recovery scenarios, print one's steps, or run them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from offline.plan import EXIT_BROKEN_PIPE, exit_now

from . import __doc__ as package_doc
from .facts import EXIT_OK, EXIT_USAGE, RecoverError, facts_of, load_plan_file, stack_plan
from .runner import Executor, render, run_procedure
from .scenarios import SCENARIOS, Options, procedure


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.recover",
        description=(package_doc or "").split("\n\n")[0],
    )
    p.add_argument("--stack", required=True, help="dev, staging, prod")
    p.add_argument(
        "--plan",
        type=Path,
        help="a recorded JSON plan (python -m offline.plan --stack S --format json); default: "
        "the program's offline plan, run now",
    )
    p.add_argument("--scenario", help="one of: " + ", ".join(SCENARIOS))
    p.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="NAME",
        help="the lost node (worker-lost, control-plane-lost); quorum-lost: each control plane "
        "whose VM is gone",
    )
    p.add_argument("--namespace", help="namespace-deleted: the deleted namespace")
    p.add_argument(
        "--snapshot",
        metavar="KEY|r2",
        help="quorum-lost, cluster-lost: the R2 object key of the etcd snapshot (default: the "
        "newest; quorum-lost tries a live one first, `r2` skips that)",
    )
    p.add_argument(
        "--backup",
        metavar="NAME",
        help="namespace-deleted, cluster-lost, --volumes-lost: the Velero backup (default: the "
        "newest Completed one started before the data went: the namespace recreated, the etcd "
        "snapshot taken, the node lost)",
    )
    p.add_argument(
        "--deleted-at",
        metavar="TIME",
        help="namespace-deleted: when the namespace was deleted (RFC 3339, 2026-05-04T01:30:00Z): "
        "the backup is one started before then; needed, or --backup, when the namespace is not "
        "there (nothing recreated it)",
    )
    p.add_argument(
        "--volumes-lost",
        action="store_true",
        help="worker-lost, control-plane-lost: the host's datastore is gone too; restore the "
        "namespaces whose volumes were on it from Velero",
    )
    p.add_argument(
        "--keep-paused",
        action="store_true",
        help="namespace-deleted: leave Argo CD's sync on hold at the end (cluster-lost runs it "
        "so for each namespace, then gives it back once)",
    )
    p.add_argument(
        "--workdir",
        help="where the credentials and the snapshot go (default: "
        "$HOME/.talos-platform/recover-<stack>)",
    )
    p.add_argument(
        "--run", action="store_true", help="run the steps, asking before each, stop at a failure"
    )
    p.add_argument("--yes", action="store_true", help="with --run: ask nothing")
    return p


def listing(stack: str, plan_note: str) -> str:
    width = max(len(name) for name in SCENARIOS)
    out = [f"Recovery scenarios of stack {stack} ({plan_note}; docs/recovery.md):"]
    out += [f"  {name:<{width}}  {s.summary}" for name, s in SCENARIOS.items()]
    out.append(
        f"Steps of one: python -m tools.recover --stack {stack} --scenario NAME; "
        "run them: add --run"
    )
    return "\n".join(out) + "\n"


def rfc3339(value: str) -> str:
    """An RFC 3339 time in UTC as Kubernetes writes times (`2026-05-04T01:30:00Z`: they compare
    as strings); RecoverError if it is none."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise RecoverError(
            f"--deleted-at {value!r}: not an RFC 3339 time with its offset "
            "(2026-05-04T01:30:00Z, 2026-05-04T03:30:00+02:00)",
            EXIT_USAGE,
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: Sequence[str] | None = None, executor: Executor | None = None) -> int:
    args = parser().parse_args(argv)
    if args.yes and not args.run:
        print("error: --yes goes with --run", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.keep_paused and args.scenario != "namespace-deleted":
            raise RecoverError("--keep-paused goes with --scenario namespace-deleted", EXIT_USAGE)
        if args.deleted_at is not None and args.scenario != "namespace-deleted":
            raise RecoverError("--deleted-at goes with --scenario namespace-deleted", EXIT_USAGE)
        deleted_at = rfc3339(args.deleted_at) if args.deleted_at is not None else None
        if args.scenario is not None and args.scenario not in SCENARIOS:
            raise RecoverError(
                f"unknown scenario {args.scenario!r}: expected one of {', '.join(SCENARIOS)}",
                EXIT_USAGE,
            )
        if args.plan is not None:
            doc = load_plan_file(args.plan)
            if doc.get("stack") != args.stack:
                raise RecoverError(
                    f"{args.plan} is the plan of stack {doc.get('stack')!r}, not {args.stack!r}",
                    EXIT_USAGE,
                )
            note = f"plan {args.plan}"
        else:
            doc = stack_plan(args.stack)
            note = f"offline plan of Pulumi.{args.stack}.yaml"
        facts = facts_of(doc)
        if args.scenario is None:
            if args.run:
                raise RecoverError("--run needs --scenario", EXIT_USAGE)
            sys.stdout.write(listing(args.stack, note))
            return EXIT_OK
        options = Options(
            nodes=tuple(args.node),
            namespace=args.namespace,
            snapshot=args.snapshot,
            backup=args.backup,
            volumes_lost=args.volumes_lost,
            deleted_at=deleted_at,
            workdir=args.workdir,
            run=args.run,
            keep_paused=args.keep_paused,
        )
        chosen = procedure(args.scenario, facts, options)
    except RecoverError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    if not args.run:
        sys.stdout.write(render(facts, chosen, args.workdir))
        return EXIT_OK
    return run_procedure(
        facts, chosen, args.workdir, executor or Executor(), sys.stdout, assume_yes=args.yes
    )


if __name__ == "__main__":
    try:
        status = main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = EXIT_BROKEN_PIPE
    exit_now(status)
