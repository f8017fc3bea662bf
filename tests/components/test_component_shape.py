"""Every component follows the house shape: its own `<project>:<area>:<Name>` type token whose
area is its folder, and `register_outputs` called once, as the last statement of `__init__`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from offline.paths import REPO_ROOT

COMPONENT_FILES = sorted((REPO_ROOT / "components").rglob("*.py"))


def component_classes() -> list[tuple[Path, ast.ClassDef]]:
    found = []
    for path in COMPONENT_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base) == "pulumi.ComponentResource" for base in node.bases
            ):
                found.append((path, node))
    return found


CLASSES = component_classes()


def test_components_are_found() -> None:
    names = {cls.name for _, cls in CLASSES}
    assert {
        "TalosImage",
        "NodeVm",
        "TalosCluster",
        "KubernetesCluster",
        "ArgoCd",
        "Tunnel",
    } <= names


@pytest.mark.parametrize(("path", "cls"), CLASSES, ids=[c.name for _, c in CLASSES])
def test_register_outputs_once_and_last(path: Path, cls: ast.ClassDef) -> None:
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    calls = [
        n
        for n in ast.walk(init)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "self.register_outputs"
    ]
    assert len(calls) == 1, f"{path.name}:{cls.name} calls register_outputs {len(calls)} times"
    last = init.body[-1]
    assert isinstance(last, ast.Expr) and last.value is calls[0], (
        f"{path.name}:{cls.name}: register_outputs is not the last statement"
    )


@pytest.mark.parametrize(("path", "cls"), CLASSES, ids=[c.name for _, c in CLASSES])
def test_type_token_names_the_area_folder(path: Path, cls: ast.ClassDef) -> None:
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    super_call = next(
        n
        for n in ast.walk(init)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "super().__init__"
    )
    token = super_call.args[0]
    assert isinstance(token, ast.Call) and ast.unparse(token.func) == "type_token"
    area = token.args[0]
    assert isinstance(area, ast.Constant) and area.value == path.parent.name
