"""The offline plan of an edge stack (docs/multi-cluster.md): the edge reads its cluster stacks'
outputs through StackReferences, so the clusters' programs run first, offline, and what they
export is what the edge's StackReferences read (`offline/answers`, `stack_reference`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.edge import is_edge
from config.errors import ConfigError

from .run import ORGANIZATION, PROJECT, run_program
from .stackfile import StackFileError, read_stack_config


@dataclass
class ClusterOutputs:
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By `organization/project/stack`, what each cluster stack's offline run exported."""
    problems: list[str] = field(default_factory=list)


def reference_name(stack: str) -> str:
    """The fully qualified name the edge's StackReference reads (stacks/edge.py)."""
    return f"{ORGANIZATION}/{PROJECT}/{stack}"


def cluster_outputs(stacks: list[str]) -> ClusterOutputs:
    """Run each cluster stack the edge names (`edge.clusters`, validated), offline, and keep
    its outputs."""
    found = ClusterOutputs()
    for stack in stacks:
        try:
            cluster = read_stack_config(stack)
        except StackFileError as exc:
            found.problems.append(f"cluster stack {stack}: {exc}")
            continue
        if is_edge(cluster.values):
            found.problems.append(f"cluster stack {stack}: an edge stack, not a cluster's")
            continue
        try:
            run = run_program(cluster.values, cluster.secret_keys, stack)
        except ConfigError as exc:
            found.problems.append(
                f"cluster stack {stack} does not plan (python -m offline.plan --stack {stack}): "
                + str(exc).splitlines()[0]
            )
            continue
        found.outputs[reference_name(stack)] = run.outputs
    return found
