"""Every value of the prod stack file replaced, one at a time, by values of the wrong type:
validation reports problems (or accepts the value), and never raises."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import yaml

from config import validate
from offline.paths import REPO_ROOT
from tests.conftest import stack_values

WRONG = [None, 5, -1, 1.5, True, "", "x", [], [1, 2], {}, {"a": 1}, [{"name": 1}]]


def leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if path:
        yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*path, i))


def test_no_value_of_the_wrong_type_crashes_validation() -> None:
    stack = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]
    base, secrets = stack_values("prod")
    checked = 0
    for path in leaves(stack):
        for wrong in WRONG:
            changed = copy.deepcopy(stack)
            target = changed
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = wrong
            top = path[0]
            value = changed[top]
            values = dict(base)
            if value is None:
                values.pop(top, None)
            else:
                values[top] = value if isinstance(value, str) else json.dumps(value)
            result = validate(values, secrets)  # must not raise
            if result.problems:
                assert all(p.key.startswith("talos-platform:") for p in result.problems)
            checked += 1
    assert checked > 1000
