"""How long the offline plan takes as the cluster grows: a command, not a test.

    python -m offline.benchmark [--sizes 3,15,60,150] [--repeat N] [--format markdown|text]

First the floor: importing the Pulumi SDKs alone in a fresh interpreter. Then, for each size, a
synthetic prod stack of that many nodes (`offline.scale`) written to a temporary stack file, and
  - the wall time of `python -m offline.plan --stack prod --stack-file FILE --format json` in a
    fresh subprocess (interpreter start, imports, program, graph and JSON output included);
  - the wall time of `run_program` alone in this process, after the imports and a warm-up run;
  - the number of resources and the critical path (resources on the longest dependency chain),
    which must be the same in the subprocess's JSON as in this process.
Every time is the best of `--repeat` runs. Progress goes to stderr, the table to stdout.

It also times the offline plan of the shipped prod stack against the floor: the budget is 1.5 x.

Exit status: 0 the table was printed; 1 a plan failed, the two ways disagree or the shipped prod
plan is over its budget; 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.errors import ConfigError

from .graph import plan_document
from .paths import REPO_ROOT
from .run import ProgramRun, run_program
from .scale import MAX_NODES, scaled_stack_values, stack_file_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STACK = "prod"
DEFAULT_SIZES = (3, 15, 60, 150)
DEFAULT_REPEAT = 2
"""Two runs of each measurement keep the default benchmark under a minute on two cores."""

SDKS = (
    "pulumi",
    "pulumi_proxmoxve",
    "pulumi_kubernetes",
    "pulumi_cloudflare",
    "pulumiverse_talos",
    "pulumi_random",
    "pulumi_command",
)
FLOOR_ARGS = ("-c", "import " + ", ".join(SDKS))
COLUMNS = (
    "nodes",
    "resources",
    "critical path",
    "plan wall time (s, subprocess)",
    "program run (s, in-process)",
)


class BenchmarkError(Exception):
    """A plan failed, or the subprocess and in-process plans disagree."""


@dataclass(frozen=True)
class Row:
    nodes: int
    resources: int
    critical_path: int
    subprocess_s: float
    in_process_s: float


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text}") from exc
    if not sizes:
        raise argparse.ArgumentTypeError("at least one size")
    bad = [n for n in sizes if not 3 <= n <= MAX_NODES]
    if bad:
        raise argparse.ArgumentTypeError(f"sizes must be between 3 and {MAX_NODES}, not {bad}")
    return sizes


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m offline.benchmark",
        description="Time the offline plan for synthetic prod stacks of several sizes.",
    )
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="comma-separated node counts, each >= 3 (default: 3,15,60,150)",
    )
    p.add_argument(
        "--repeat",
        type=_positive,
        default=DEFAULT_REPEAT,
        help=f"runs of each measurement; the best is kept (default: {DEFAULT_REPEAT})",
    )
    p.add_argument("--format", choices=("markdown", "text"), default="markdown")
    return p


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_of(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


def _timed_subprocess(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchmarkError(
            f"`{shlex.join(args)}` exited with {done.returncode}:\n{done.stderr.strip()}"
        )
    return elapsed, done


def measure_floor(repeat: int) -> float:
    """Wall time of a fresh interpreter that imports the SDKs and nothing else."""
    args = [sys.executable, *FLOOR_ARGS]
    return best_of(repeat, lambda: _timed_subprocess(args)[0])


BUDGET = 1.5
"""The offline plan of the shipped prod stack, every check included, may cost at most this many
times the floor (issue 11): the checks must not outweigh the SDKs the program needs anyway."""
SHIPPED_PLAN = ("-m", "offline.plan", "--stack", STACK, "--format", "json")


def measure_shipped(repeat: int) -> float:
    """Wall time of the offline plan of the shipped prod stack (Pulumi.prod.yaml)."""
    args = [sys.executable, *SHIPPED_PLAN]
    return best_of(repeat, lambda: _timed_subprocess(args)[0])


def plan_command(stack_file: Path | str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "offline.plan",
        "--stack",
        STACK,
        "--stack-file",
        str(stack_file),
        "--format",
        "json",
    ]


def scaled(nodes: int) -> tuple[dict[str, str], set[str]]:
    try:
        return scaled_stack_values(nodes, STACK)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from exc


def run_in_process(values: dict[str, str], secret_keys: set[str], nodes: int) -> ProgramRun:
    try:
        return run_program(values, secret_keys, STACK)
    except ConfigError as exc:
        raise BenchmarkError(f"{nodes} nodes: the config is invalid:\n{exc}") from exc


def measure_size(nodes: int, repeat: int, workdir: Path) -> Row:
    values, secret_keys = scaled(nodes)
    stack_file = workdir / str(nodes) / f"Pulumi.{STACK}.yaml"
    stack_file.parent.mkdir(parents=True, exist_ok=True)
    stack_file.write_text(stack_file_text(values, secret_keys, nodes), encoding="utf-8")

    summaries: list[dict[str, int]] = []

    def plan_once() -> float:
        elapsed, done = _timed_subprocess(plan_command(stack_file))
        summaries.append(json.loads(done.stdout)["summary"])
        return elapsed

    subprocess_s = best_of(repeat, plan_once)

    last: list[ProgramRun] = []

    def run_once() -> float:
        last.clear()  # keep one run alive at a time: a bigger heap slows the next one
        start = time.perf_counter()
        run = run_in_process(values, secret_keys, nodes)
        elapsed = time.perf_counter() - start
        last.append(run)
        return elapsed

    in_process_s = best_of(repeat, run_once)
    summary = plan_document(last[0])["summary"]
    for other in summaries:
        if (other["resources"], other["critical_path"]) != (
            summary["resources"],
            summary["critical_path"],
        ):
            raise BenchmarkError(
                f"{nodes} nodes: the subprocess planned {other['resources']} resources "
                f"(critical path {other['critical_path']}), this process {summary['resources']} "
                f"(critical path {summary['critical_path']}): the written stack file differs"
            )
    return Row(nodes, summary["resources"], summary["critical_path"], subprocess_s, in_process_s)


def _cells(row: Row) -> list[str]:
    return [
        str(row.nodes),
        str(row.resources),
        str(row.critical_path),
        f"{row.subprocess_s:.2f}",
        f"{row.in_process_s:.2f}",
    ]


def _machine() -> str:
    return (
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )


def budget_line(shipped: float, floor: float) -> str:
    ratio = shipped / floor
    verdict = "within" if ratio <= BUDGET else "OVER"
    return (
        f"the shipped prod plan (`python {shlex.join(SHIPPED_PLAN)}`): {shipped:.2f} s, "
        f"{ratio:.2f} x the floor, {verdict} the budget of {BUDGET} x"
    )


def render(
    rows: list[Row],
    floor: float,
    first_run: float,
    repeat: int,
    command: str,
    fmt: str,
    shipped: float,
) -> str:
    floor_cmd = "python " + shlex.join(FLOOR_ARGS)
    plan_cmd = "python " + shlex.join(plan_command("<generated Pulumi.prod.yaml>")[1:])
    if fmt == "markdown":
        lines = [
            f"| {' | '.join(COLUMNS)} |",
            "|" + "|".join("---:" for _ in COLUMNS) + "|",
            *(f"| {' | '.join(_cells(r))} |" for r in rows),
            "",
            f"Floor (importing the SDKs alone, fresh subprocess): **{floor:.2f} s** "
            f"(`{floor_cmd}`).",
            budget_line(shipped, floor)[0].upper() + budget_line(shipped, floor)[1:] + ".",
            f"First in-process run (3 nodes), its imports included: {first_run:.2f} s; "
            "the SDKs load most of their modules lazily, on first use.",
            "",
            f"Best of {repeat}; {_machine()}. Each plan: `{plan_cmd}`.",
            "",
            f"Command: `{command}`",
        ]
    else:
        table = [list(COLUMNS), *(_cells(r) for r in rows)]
        widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in table]
        lines += [
            "",
            f"floor (importing the SDKs alone, fresh subprocess): {floor:.2f} s ({floor_cmd})",
            budget_line(shipped, floor),
            f"first in-process run (3 nodes), its imports included: {first_run:.2f} s",
            f"best of {repeat}; {_machine()}",
            f"each plan: {plan_cmd}",
            f"command: {command}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(raw)
    command = shlex.join(["python", "-m", "offline.benchmark", *raw])
    try:
        _progress(f"floor: importing the SDKs, best of {args.repeat} ...")
        floor = measure_floor(args.repeat)
        _progress(f"the shipped prod plan, best of {args.repeat} ...")
        shipped = measure_shipped(args.repeat)
        # Warm up this process so the in-process column times the program, not the first
        # imports: the program's modules, the SDKs and their lazily loaded submodules.
        start = time.perf_counter()
        run_in_process(*scaled(3), 3)
        first_run = time.perf_counter() - start
        rows = []
        with tempfile.TemporaryDirectory(prefix="offline-benchmark-") as tmp:
            for nodes in args.sizes:
                _progress(f"{nodes} nodes, best of {args.repeat} ...")
                rows.append(measure_size(nodes, args.repeat, Path(tmp)))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(render(rows, floor, first_run, args.repeat, command, args.format, shipped))
    if shipped > BUDGET * floor:
        print(f"error: {budget_line(shipped, floor)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
