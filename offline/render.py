"""The three faces of a plan: a text tree, the JSON document, a Mermaid dependency graph."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from .graph import critical_path, depths, edges, node_of, node_roles

Document = dict[str, Any]


def short_type(token: str) -> str:
    return token.rsplit(":", 1)[-1]


def summary_line(doc: Document) -> str:
    s = doc["summary"]
    return (
        f"stack {doc['stack']}: {s['resources']} resources, "
        f"{len(doc['invokes'])} provider calls, critical path {s['critical_path']} resources; "
        "secrets shown as [secret]"
    )


def render_text(doc: Document) -> str:
    resources = doc["resources"]
    children: dict[str, list[Document]] = {}
    urns = {r["urn"] for r in resources}
    for r in resources:
        parent = r["parent"] if r["parent"] in urns else ""
        children.setdefault(parent, []).append(r)
    lines = [f"{doc['project']}/{doc['stack']}"]
    depth_of = depths(resources)

    def order(urn: str) -> int:
        """A resource's place in the order of creation; a component's is its first child's."""
        if depth_of.get(urn, 0) > 1 or urn not in {r["parent"] for r in resources}:
            return depth_of.get(urn, 0)
        return min((order(c["urn"]) for c in children.get(urn, [])), default=0)

    def walk(parent: str, depth: int) -> None:
        siblings = sorted(children.get(parent, []), key=lambda r: (order(r["urn"]), r["urn"]))
        for r in siblings:
            marks = " [protected]" if r["protect"] else ""
            lines.append(f"{'  ' * depth}- {r['type']}  {r['name']}{marks}")
            walk(r["urn"], depth + 1)

    walk("", 1)
    lines.append("")
    lines.append(summary_line(doc))
    return "\n".join(lines) + "\n"


def render_json(doc: Document) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def _label(r: Document) -> str:
    return f"{short_type(r['type'])}<br/>{r['name']}".replace('"', "'")


MAX_EDGES = 500
"""GitHub renders a Mermaid graph of at most 500 edges (Mermaid's `maxEdges`)."""
MAX_CHARACTERS = 20_000
"""The graph's share of a pull-request comment: GitHub takes at most 65,536 characters, and
.github/workflows/pull-request.yml cuts the comment at 60,000, the checks' output at 20,000 of
them; a graph cut short would not render at all."""
FOLD_NODES = 12
"""More nodes than this, and each role's nodes are drawn once (`xN` boxes), not node by node."""
TIMES, ELLIPSIS = "\N{MULTIPLICATION SIGN}", "\N{HORIZONTAL ELLIPSIS}"
ROLE_TITLES = {"controlplane": "control planes", "worker": "workers"}


def _natural(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def mermaid_edges(text: str) -> int:
    """The edges of a Mermaid graph as `render_mermaid` draws them (one per line)."""
    return sum(1 for line in text.splitlines() if re.search(r" (-->|==>)(\|[^|]*\|)? ", line))


def render_mermaid(doc: Document) -> str:
    """A left-to-right graph of what waits for what: one subgraph per top-level component, the
    critical path in thick arrows, a legend. A large cluster (more than FOLD_NODES nodes, or a
    drawing past GitHub's limits) is folded: each role's nodes are one subgraph, each kind of
    per-node resource one `xN` box, their edges drawn once."""
    roles = node_roles(doc)
    if len(roles) <= FOLD_NODES:
        full = _mermaid(doc, {})
        if mermaid_edges(full) <= MAX_EDGES and len(full) <= MAX_CHARACTERS:
            return full
    return _mermaid(doc, roles)


def render_mermaid_markdown(doc: Document) -> str:
    """The graph fenced for a Markdown comment or page."""
    return f"```mermaid\n{render_mermaid(doc)}```\n"


def _mermaid(doc: Document, fold: dict[str, str]) -> str:
    resources = doc["resources"]
    ids = {r["urn"]: f"r{i}" for i, r in enumerate(resources)}
    by_urn = {r["urn"]: r for r in resources}
    graph = edges(resources)
    path = critical_path(resources)
    on_path = set(itertools.pairwise(path))
    depth_of = depths(resources)

    # Folding: a per-node resource (named after its node) becomes one box per role, type and
    # name pattern; `box` maps each drawn resource to the box that stands for it.
    box: dict[str, str] = {u: ids[u] for u in ids}
    folded: dict[tuple[str, str, str], list[str]] = {}
    for r in resources:
        node = node_of(r["name"], fold) if fold else None
        if node is None or r["type"].startswith("talos-platform:"):
            continue
        pattern = r["name"].replace(node, "*", 1)
        folded.setdefault((fold[node], r["type"], pattern), []).append(r["urn"])
    role_order = sorted(
        {role for role, _, _ in folded},
        key=lambda k: (list(ROLE_TITLES).index(k) if k in ROLE_TITLES else len(ROLE_TITLES), k),
    )
    boxes: dict[str, list[tuple[str, list[str]]]] = {role: [] for role in role_order}
    for n, (key, members) in enumerate(
        sorted(folded.items(), key=lambda kv: (min(depth_of[u] for u in kv[1]), kv[0]))
    ):
        members.sort(key=lambda u: _natural(by_urn[u]["name"]))
        for u in members:
            box[u] = f"n{n}"
        boxes[key[0]].append((f"n{n}", members))

    def top(urn: str) -> str:
        r = by_urn[urn]
        while r["parent"] in by_urn:
            r = by_urn[r["parent"]]
        return r["urn"]

    groups: dict[str, list[str]] = {}
    for r in resources:
        if r["urn"] == top(r["urn"]) and r["type"].count(":") == 2 and r["parent"] not in by_urn:
            groups.setdefault(r["urn"], [])
    lines = ["graph LR"]
    loose = []
    for r in resources:
        if r["type"].startswith("talos-platform:") or box[r["urn"]] != ids[r["urn"]]:
            continue  # components are drawn as subgraphs, folded resources as their box
        group = top(r["urn"])
        if group in groups and group != r["urn"]:
            groups[group].append(r["urn"])
        else:
            loose.append(r["urn"])
    for group, members in groups.items():
        if not members:
            continue
        g = by_urn[group]
        lines.append(f'  subgraph {ids[group]}["{short_type(g["type"])}: {g["name"]}"]')
        lines += [f'    {ids[u]}["{_label(by_urn[u])}"]' for u in members]
        lines.append("  end")
    lines += [f'  {ids[u]}["{_label(by_urn[u])}"]' for u in loose]

    drawn = {u for members in groups.values() for u in members} | set(loose)
    drawn |= {u for members in folded.values() for u in members}
    arrows: dict[tuple[str, str], bool] = {}
    in_turn: set[str] = set()
    for urn in sorted(drawn, key=lambda u: ids[u]):
        for dep in sorted(graph[urn], key=lambda u: ids[u]):
            if dep not in drawn:
                continue
            tail, head = box[dep], box[urn]
            if tail == head:
                in_turn.add(head)  # members of one box wait for one another
                continue
            arrows[tail, head] = arrows.get((tail, head), False) or (dep, urn) in on_path

    for g, role in enumerate(role_order):
        count = len({node for node, r in fold.items() if r == role})
        title = ROLE_TITLES.get(role, f"{role} nodes")
        lines.append(f'  subgraph g{g}["{title} {TIMES}{count}"]')
        for box_id, members in boxes[role]:
            first, last = by_urn[members[0]], by_urn[members[-1]]
            label = f"{short_type(first['type'])} {TIMES}{len(members)}<br/>{first['name']}"
            if len(members) > 1:
                label += f" {ELLIPSIS} {last['name']}"
            if box_id in in_turn:
                label += "<br/>one after another"
            lines.append(f'    {box_id}["{label.replace(chr(34), chr(39))}"]')
        lines.append("  end")

    for (tail, head), thick in arrows.items():
        lines.append(f"  {tail} {'==>' if thick else '-->'} {head}")
    lines += _legend(bool(folded))
    lines.append(f"  %% {summary_line(doc)}")
    return "\n".join(lines) + "\n"


def _legend(folded: bool) -> list[str]:
    lines = ['  subgraph legend["Legend"]', '    k0["Type<br/>name: one resource"]']
    if folded:
        lines.append(
            f'    k1["Type {TIMES}N<br/>first {ELLIPSIS} last: that resource of each of the N nodes'
            ' of a role, drawn once with its arrows"]'
        )
    lines += [
        '    k2["A"] -->|B waits for A| k3["B"]',
        '    k4["A"] ==>|critical path: the longest chain of waits| k5["B"]',
        "  end",
    ]
    return lines


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "mermaid": render_mermaid,
    "mermaid-md": render_mermaid_markdown,
}
