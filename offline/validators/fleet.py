"""The repository's stack files checked together (config/fleet.py holds the rules;
docs/multi-cluster.md, "The fleet rules").

    python -m offline.validators.fleet [--root DIR]

prints every problem (exit 1) or `fleet: N stacks checked together` (exit 0); `offline.plan`
runs the same rules for the stack it plans (`plan_check`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from config import validate
from config.edge import EdgeStack, is_edge, validate_edge
from config.fleet import fleet_problems, stack_problems
from config.fleet_edge import cluster_edge_problems, edge_stack_notes, edge_stack_problems
from config.models import StackConfig

from ..paths import REPO_ROOT
from ..stackfile import StackConfigValues, StackFileError, read_stack_config


@dataclass
class FleetFiles:
    stacks: dict[str, StackConfig] = field(default_factory=dict)
    """The cluster stacks whose configuration validates."""
    edges: dict[str, EdgeStack] = field(default_factory=dict)
    """The edge stacks (config/edge.py) whose configuration validates."""
    unchecked: list[str] = field(default_factory=list)
    """Why each other stack file is not checked with them (its own plan lists its problems)."""


def read_fleet(root: Path = REPO_ROOT, skip: Iterable[str] = ()) -> FleetFiles:
    """Every `Pulumi.<stack>.yaml` of `root` (but `skip`), as the program reads it (the project
    defaults of the repository's Pulumi.yaml, placeholders for secrets)."""
    found = FleetFiles()
    skipped = set(skip)
    for path in sorted(root.glob("Pulumi.*.yaml")):
        name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if name in skipped:
            continue
        try:
            values = read_stack_config(name, path, REPO_ROOT / "Pulumi.yaml")
        except StackFileError as exc:
            found.unchecked.append(f"{path.name}: not checked with the fleet: {exc}")
            continue
        edge = is_edge(values.values)
        result = (validate_edge if edge else validate)(values.values, values.secret_keys)
        if result.config is None:
            found.unchecked.append(
                f"{path.name}: not checked with the fleet: its configuration does not validate "
                f"({len(result.problems)} problem(s): python -m offline.plan --stack {name})"
            )
        elif isinstance(result.config, EdgeStack):
            found.edges[name] = result.config
        else:
            found.stacks[name] = result.config
    return found


def edge_problems(fleet: FleetFiles, names: Iterable[str] | None = None) -> list[str]:
    """The edge rules (config/fleet_edge.py) of the stacks `names` (default: all)."""
    wanted = set(fleet.stacks) | set(fleet.edges) if names is None else set(names)
    problems = []
    for name in sorted(wanted):
        if name in fleet.edges:
            problems += edge_stack_problems(name, fleet.edges[name], fleet.stacks, fleet.edges)
        elif name in fleet.stacks:
            problems += cluster_edge_problems(name, fleet.stacks, fleet.edges)
    return problems


def edge_notes(fleet: FleetFiles, names: Iterable[str] | None = None) -> list[str]:
    """Hostnames on their way to an edge stack of `names` (default: all), still published by a
    cluster stack: not a problem, the next step of a migration."""
    wanted = set(fleet.edges) if names is None else set(names) & set(fleet.edges)
    return [
        n
        for name in sorted(wanted)
        for n in edge_stack_notes(name, fleet.edges[name], fleet.stacks)
    ]


@dataclass
class PlanCheck:
    problems: list[str]
    notes: list[str]
    ran: str


def plan_check(name: str, values: StackConfigValues, root: Path = REPO_ROOT) -> PlanCheck:
    """The fleet check of one stack's plan: its configuration (`values`, which may come from a
    --stack-file) against the repository's other stack files. Only problems of this stack's keys
    fail its plan; another stack file that does not validate is a note (its plan fails)."""
    edge = is_edge(values.values)
    config = (validate_edge if edge else validate)(values.values, values.secret_keys).config
    if config is None:  # the plan reports the config's own problems
        return PlanCheck([], [], "fleet 0 stacks")
    fleet = read_fleet(root, skip={name})
    if isinstance(config, EdgeStack):
        fleet.edges[name] = config
        problems = edge_problems(fleet, [name])
        fleet.unchecked += edge_notes(fleet, [name])
    else:
        fleet.stacks[name] = config
        problems = stack_problems(name, fleet.stacks) + edge_problems(fleet, [name])
    count = len(fleet.stacks) + len(fleet.edges)
    return PlanCheck(problems, fleet.unchecked, f"fleet {count} stacks")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline.validators.fleet",
        description="Check every stack file of the repository together (docs/multi-cluster.md).",
    )
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="where the Pulumi.<stack>.yaml files are"
    )
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"error: {args.root} is not a directory", file=sys.stderr)
        return 2
    fleet = read_fleet(args.root)
    problems = fleet.unchecked + fleet_problems(fleet.stacks) + edge_problems(fleet)
    for note in edge_notes(fleet):
        print(f"note: {note}", file=sys.stderr)
    if problems:
        print(f"fleet: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"fleet: {len(fleet.stacks) + len(fleet.edges)} stacks checked together")
    return 0


if __name__ == "__main__":
    sys.exit(main())
