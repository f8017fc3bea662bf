"""Every Mermaid diagram we publish parses with Mermaid's own parser: the plan's graph of each
stack (pasted into pull-request comments) and of a 150-node stack, folded, and the pictures in
the README and docs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.paths import REPO_ROOT
from offline.render import render_mermaid, render_mermaid_markdown
from tests.conftest import STACKS, document
from tests.offline.test_scale import scaled_plan

CHECKER = REPO_ROOT / "tools" / "mermaid"


def node_checker() -> list[str]:
    node = shutil.which("node")
    if node is None or not (CHECKER / "node_modules" / "mermaid").is_dir():
        reason = (
            "Mermaid's parser is not installed: run `npm ci --prefix tools/mermaid` "
            "(.ci/run does; needs Node.js)"
        )
        if os.environ.get("PLATFORM_REQUIRE_NODE_TOOLS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return [node, str(CHECKER / "check.mjs")]


def check(files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*node_checker(), *map(str, files)], capture_output=True, text=True, check=False
    )


def test_plan_graphs_and_doc_pictures_parse(tmp_path: Path) -> None:
    docs = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    # Every document with a picture (a document without one has nothing to parse).
    files = [path for path in docs if "```mermaid" in path.read_text()]
    assert REPO_ROOT / "README.md" in files
    for stack in STACKS:
        path = tmp_path / f"{stack}.mmd"
        path.write_text(render_mermaid(document(stack)))
        files.append(path)
    result = check(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") >= len(files)


def test_a_150_node_graph_parses_bare_and_fenced(tmp_path: Path) -> None:
    """The folded graph of a 150-node stack, as `--format mermaid` and `--format mermaid-md`
    print it (the pull-request comment fences the former)."""
    doc = scaled_plan(150)
    bare, fenced = tmp_path / "150.mmd", tmp_path / "150.md"
    bare.write_text(render_mermaid(doc))
    fenced.write_text(render_mermaid_markdown(doc))
    result = check([bare, fenced])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == 2


def test_a_broken_diagram_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.mmd"
    path.write_text('graph LR\n  a["unclosed --> b\n')
    result = check([path])
    assert result.returncode == 1
    assert f"FAIL {path}" in result.stdout
