"""Shared fixtures: stack configs as Pulumi hands them to the program, and recorded program runs.

A program run under mocks takes about 0.1 s once the SDKs are imported (about 2 s), so every
test that needs a run gets it from `recorded()`, cached per config.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from offline.graph import plan_document
from offline.run import ProgramRun, run_program
from offline.stackfile import read_stack_config

STACKS = ("dev", "staging", "prod")
NS = "talos-platform"


def stack_values(stack: str) -> tuple[dict[str, str], frozenset[str]]:
    values = read_stack_config(stack)
    return dict(values.values), frozenset(values.secret_keys)


def structured(values: dict[str, str], key: str) -> Any:
    return json.loads(values[f"{NS}:{key}"])


def with_key(values: dict[str, str], key: str, value: Any) -> dict[str, str]:
    out = dict(values)
    out[f"{NS}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


@lru_cache(maxsize=32)
def _run(stack: str, frozen: tuple[tuple[str, str], ...], secrets: frozenset[str]) -> ProgramRun:
    return run_program(dict(frozen), set(secrets), stack)


def recorded(
    stack: str, values: dict[str, str] | None = None, secrets: frozenset[str] | None = None
) -> ProgramRun:
    """The program run for `stack` (its shipped stack file unless `values` is given)."""
    if values is None:
        values, default_secrets = stack_values(stack)
        secrets = default_secrets if secrets is None else secrets
    elif secrets is None:
        secrets = stack_values(stack)[1]
    return _run(stack, tuple(sorted(values.items())), secrets)


def document(stack: str, values: dict[str, str] | None = None) -> dict[str, Any]:
    return plan_document(recorded(stack, values))


def by_type(run: ProgramRun, token: str) -> list:
    return [r for r in run.registrations if r.type == token]
