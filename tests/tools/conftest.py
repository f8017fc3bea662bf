"""Fixtures of the `tools.recover` tests: the recorded plans of the stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import document

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="session")
def prod_doc() -> dict[str, Any]:
    return document("prod")


@pytest.fixture(scope="session")
def prod_plan(prod_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recover") / "prod.json"
    path.write_text(json.dumps(prod_doc))
    return path


@pytest.fixture(scope="session")
def stack_plans(prod_plan: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A recorded plan of each shipped stack (`python -m offline.plan --format json`)."""
    plans = {"prod": prod_plan}
    for stack in STACKS:
        if stack not in plans:
            path = tmp_path_factory.mktemp("recover") / f"{stack}.json"
            path.write_text(json.dumps(document(stack)))
            plans[stack] = path
    return plans
