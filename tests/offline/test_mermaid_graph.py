"""The plan's Mermaid graph stays readable and within GitHub's limits at any size: past
FOLD_NODES nodes each role's per-node resources are one `xN` box, the critical path stays drawn,
and a 150-node stack fits a pull-request comment (GitHub: at most 500 edges per graph, 65,536
characters per comment; the workflow cuts comments at 60,000)."""

from __future__ import annotations

import re

import pytest

from offline.graph import critical_path, node_roles
from offline.render import (
    ELLIPSIS,
    FOLD_NODES,
    MAX_CHARACTERS,
    MAX_EDGES,
    TIMES,
    _mermaid,
    mermaid_edges,
    render_mermaid,
    render_mermaid_markdown,
)
from tests.conftest import STACKS, document
from tests.offline.test_scale import scaled_plan

Document = dict
X, E = TIMES, ELLIPSIS

BOX = re.compile(r'^\s+(\w+)\["(.*)"\]$')
ARROW = re.compile(r"^\s+(\w+) (-->|==>) (\w+)$")
COMMENT_LIMIT, WORKFLOW_CUT, CHECKS_OUTPUT = 65_536, 60_000, 20_000


def boxes(text: str) -> dict[str, str]:
    return {m[1]: m[2] for line in text.splitlines() if (m := BOX.match(line))}


def arrows(text: str) -> list[tuple[str, str, bool]]:
    return [(m[1], m[3], m[2] == "==>") for line in text.splitlines() if (m := ARROW.match(line))]


def assert_critical_path_drawn(doc: Document, text: str) -> None:
    """The thick arrows form one chain, from the box of the path's first resource to that of its
    last, each box on it once."""
    thick = [(a, b) for a, b, bold in arrows(text) if bold]
    assert thick
    heads, tails = [b for _, b in thick], [a for a, _ in thick]
    assert len(set(heads)) == len(heads) and len(set(tails)) == len(tails)
    start = next(a for a in tails if a not in heads)
    chain = [start]
    following = dict(thick)
    while chain[-1] in following:
        chain.append(following[chain[-1]])
    assert len(chain) == len(thick) + 1, "the thick arrows are one chain"
    path = critical_path(doc["resources"])
    labels = boxes(text)
    first = {r["urn"]: r["name"] for r in doc["resources"]}[path[0]]
    last = {r["urn"]: r["name"] for r in doc["resources"]}[path[-1]]
    assert labels[chain[0]].endswith(first) and labels[chain[-1]].endswith(last)


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_are_drawn_node_by_node(stack: str) -> None:
    doc = document(stack)
    assert len(node_roles(doc)) <= FOLD_NODES
    text = render_mermaid(doc)
    assert X not in text.split("subgraph legend")[0], "nothing folded"
    assert mermaid_edges(text) <= MAX_EDGES and len(text) <= MAX_CHARACTERS
    assert_critical_path_drawn(doc, text)
    assert 'subgraph legend["Legend"]' in text


def test_150_nodes_fold_into_one_group_per_role_within_githubs_limits() -> None:
    doc = scaled_plan(150)
    text = render_mermaid(doc)
    edges = mermaid_edges(text)
    assert edges <= MAX_EDGES, edges
    assert len(text) <= MAX_CHARACTERS, len(text)
    # The graph's share leaves room for the rest of the comment before the workflow's cut.
    fenced = render_mermaid_markdown(doc)
    assert len(fenced) + CHECKS_OUTPUT < WORKFLOW_CUT < COMMENT_LIMIT
    assert f'subgraph g0["control planes {X}3"]' in text
    assert f'subgraph g1["workers {X}147"]' in text
    labels = set(boxes(text).values())
    for label in (
        f"VmLegacy {X}147<br/>prod-worker-1 {E} prod-worker-147",
        f"Command {X}147<br/>talos-prod-worker-1-exit {E} talos-prod-worker-147-exit",
        f"ConfigurationApply {X}147<br/>talos-prod-worker-1 {E} talos-prod-worker-147",
        f"Command {X}147<br/>upgrade-prod-worker-1 {E} upgrade-prod-worker-147",
        f"Command {X}3<br/>upgrade-prod-cp-1 {E} upgrade-prod-cp-3<br/>one after another",
    ):
        assert label in labels
    # No resource of a single node is drawn on its own, and no arrow twice.
    assert all(X in label for label in labels if "prod-" in label)
    assert len(set(arrows(text))) == len(arrows(text))
    assert_critical_path_drawn(doc, text)
    assert "that resource of each of the N nodes" in text, "the legend explains a folded box"


def test_folding_keeps_every_kind_of_edge() -> None:
    """Folded, a graph has an arrow between two boxes exactly when some member of one waits for
    some member of the other: the folded graphs of 15 and 150 nodes have the arrows of the
    15-node graph drawn node by node, each named by type and name pattern (`prod-worker-N`)."""

    def kinds(text: str) -> set[tuple[str, str]]:
        labels = boxes(text)

        def kind(box: str) -> str:
            label = labels[box].split("<br/>")
            name = re.sub(r"(cp|worker)-\d+", r"\1-N", label[1].split(f" {E} ")[0])
            return f"{label[0].split(f' {X}')[0]} {name}"

        pairs = {(kind(a), kind(b)) for a, b, _ in arrows(text) if not a.startswith("k")}
        return {(a, b) for a, b in pairs if a != b}  # within a box: "one after another"

    unfolded = kinds(_mermaid(scaled_plan(15), {}))
    assert len(unfolded) > 50
    assert kinds(render_mermaid(scaled_plan(15))) == unfolded
    assert kinds(render_mermaid(scaled_plan(150))) == unfolded
