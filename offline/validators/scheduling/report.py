"""The check and its outputs: problems and notes for run_checks, and the per-node table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import gitops, storage
from .cluster import Cluster
from .drain import budgets_of, drain_findings
from .nodes import (
    EVICTION_HARD_MEMORY,
    SYSTEM_RESERVED_CPU_MILLIS,
    SYSTEM_RESERVED_MEMORY,
    Node,
    plan_nodes,
)
from .quantities import show_cpu, show_memory
from .rollout import rollout_findings
from .scheduler import Failure, schedule
from .sources import Releases, stack_objects
from .workloads import Workload, read_workloads


@dataclass
class Report:
    """`problems` fail the plan; `notes` say what was not checked or assumed (run_checks shows
    them); `warnings` are findings that do not fail it (shown with the table)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    cluster: Cluster | None = None


def evaluate(
    doc: dict[str, Any],
    kubernetes_version: str,
    rendered: dict[str, list[gitops.RenderedObject]] | None = None,
    releases: Releases | None = None,
) -> Report:
    """Place everything the plan runs on its nodes, then try each rollout and each drain.

    `rendered` (gitops._render_environment) and `releases` (helm_render.rendered_releases)
    are computed when not given.
    """
    report = Report()
    report.nodes, report.notes = plan_nodes(doc)
    if not report.nodes:
        report.notes.append("scheduling not checked: the plan has no Talos node")
        return report
    objects, notes = stack_objects(doc, kubernetes_version, report.nodes, rendered, releases)
    report.notes += notes
    # A malformed workload is left out (a problem: the schema checks fail the plan on it too).
    report.workloads, skipped = read_workloads(objects)
    report.problems += skipped
    for workload in report.workloads:
        if not workload.has_requests and workload.source != "talos":
            report.notes.append(f"{workload.title}: requests no cpu or memory, counted as 0")
    report.cluster, report.failures = schedule(report.nodes, report.workloads)
    report.problems += [f.message() for f in report.failures]
    failed = {id(f.workload) for f in report.failures}
    problems, warnings = rollout_findings(report.cluster, report.workloads, failed)
    report.problems += problems
    report.warnings += warnings
    # A node whose drain a budget blocks fails its upgrade in every environment (dev included:
    # with one node running workloads the program ships no budget there, see cloudflared.py).
    # A pod on a zone-local volume (a Proxmox disk) can only move within its zone.
    pinned = storage.zone_pinned(objects)
    problems, warnings = drain_findings(report.cluster, budgets_of(objects), pinned)
    report.problems += problems
    report.warnings += warnings
    return report


def scheduling_problems(doc: dict[str, Any], kubernetes_version: str) -> list[str]:
    return evaluate(doc, kubernetes_version).problems


def _share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole > 0 else "-"


def table(report: Report) -> str:
    """Requested against allocatable, per node, after placing everything."""
    if report.cluster is None:
        return "scheduling: no node placed"
    rows = [("node", "role", "cpu requested/allocatable", "memory requested/allocatable", "pods")]
    for node in report.nodes:
        cpu, memory, pods = report.cluster.requested(node.name)
        rows.append(
            (
                node.name,
                node.role,
                f"{show_cpu(cpu)}/{show_cpu(node.cpu_allocatable)} "
                f"({_share(cpu, node.cpu_allocatable)})",
                f"{show_memory(memory)}/{show_memory(node.memory_allocatable)} "
                f"({_share(memory, node.memory_allocatable)})",
                f"{pods}/{node.pods_allocatable}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    reserved = ", ".join(f"{show_memory(v)} on a {k}" for k, v in SYSTEM_RESERVED_MEMORY.items())
    lines.append(
        f"allocatable: the VM's cores and memory less Talos's systemReserved "
        f"({show_cpu(SYSTEM_RESERVED_CPU_MILLIS)} cpu; {reserved}) and the kubelet's hard "
        f"eviction threshold ({show_memory(EVICTION_HARD_MEMORY)})"
    )
    unplaced = sum(f.unplaced for f in report.failures)
    if unplaced:
        lines.append(f"{unplaced} pod(s) placed nowhere (see the problems)")
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def node_table(doc: dict[str, Any], kubernetes_version: str) -> str:
    """The per-node table of a plan document (places everything again; pass a Report from
    `evaluate` to `table` to reuse one)."""
    return table(evaluate(doc, kubernetes_version))
