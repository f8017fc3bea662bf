"""The three faces of a plan: a text tree, the JSON document, a Mermaid dependency graph."""

from __future__ import annotations

import json
from typing import Any

from .graph import critical_path, depths, edges

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


def render_mermaid(doc: Document) -> str:
    """A left-to-right graph, one subgraph per top-level component, edges for waits-for."""
    resources = doc["resources"]
    ids = {r["urn"]: f"r{i}" for i, r in enumerate(resources)}
    by_urn = {r["urn"]: r for r in resources}
    graph = edges(resources)
    on_path = set(critical_path(resources))

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
        if r["type"].startswith("talos-platform:"):
            continue  # components are drawn as subgraphs
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
    for urn in sorted(drawn, key=lambda u: ids[u]):
        for dep in sorted(graph[urn], key=lambda u: ids[u]):
            if dep in drawn:
                arrow = "==>" if urn in on_path and dep in on_path else "-->"
                lines.append(f"  {ids[dep]} {arrow} {ids[urn]}")
    lines.append(f"  %% {summary_line(doc)}")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "mermaid": render_mermaid}
