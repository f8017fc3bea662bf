"""The problems configuration validation reports, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

NAMESPACE = "talos-platform"
"""The Pulumi config namespace of this project (the project name in Pulumi.yaml)."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a stack's configuration.

    `key` is the full config key path as a user would type it
    (`talos-platform:nodes[1].ip`), `value` the offending value, `expected` what would be right.
    """

    key: str
    value: Any
    expected: str

    def __str__(self) -> str:
        return f"{self.key}: got {_show(self.value)}; expected {self.expected}"


class ConfigError(pulumi.RunError):
    """Raised once, before any resource exists, with every problem found.

    It subclasses `pulumi.RunError`, which the Pulumi engine reports without a Python traceback.
    """

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = [f"invalid stack configuration ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


def key(path: str) -> str:
    """The user-facing key for a dotted path below the project namespace."""
    return f"{NAMESPACE}:{path}"
