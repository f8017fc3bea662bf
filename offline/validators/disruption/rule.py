"""The rule: how many disruptions a PodDisruptionBudget allows, and when that blocks a drain."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

WHY = (
    "`talosctl upgrade` drains each node and fails after --drain-timeout when no pod may be "
    "evicted, leaving the node cordoned"
)

_PERCENT = re.compile(r"(\d+)%")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Budget:
    """One PodDisruptionBudget as evaluated.

    `where` is the plan resource (`resource cloudflared-pdb`), the chart value
    (`argocd values: server.pdb`) or the rendered file (`gitops/apps/podinfo/base/frontend.yaml`);
    `name` names the budget, `setting` is what it keeps (`minAvailable: 1`), `replicas` the pods
    it covers, `workloads` what they belong to, `allowed` the disruptions it allows (None when it
    could not be evaluated) and `problem` why it blocks a drain (None when it does not).
    """

    where: str
    name: str
    setting: str
    replicas: int
    workloads: tuple[str, ...]
    allowed: int | None
    problem: str | None


@dataclass
class Report:
    """Every budget evaluated, and every problem (those of the budgets and any other)."""

    budgets: list[Budget] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, budgets: Iterable[Budget]) -> None:
        for budget in budgets:
            self.budgets.append(budget)
            if budget.problem:
                self.problems.append(budget.problem)


class NotUnderstoodError(ValueError):
    """A budget field this check cannot evaluate."""


# --- The rule ----------------------------------------------------------------------------------


def parse_amount(value: Any, key: str, *, numeric_strings: bool = False) -> int | str:
    """A minAvailable/maxUnavailable value: a whole number, or a percentage string (`"50%"`).

    `numeric_strings` accepts `"1"` as 1 (Helm writes values into templates unquoted).
    """
    if isinstance(value, bool):
        raise NotUnderstoodError(f"{key}: {value!r} is not a whole number or a percentage")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip()
        if _PERCENT.fullmatch(text):
            return text
        if numeric_strings and _NUMBER.fullmatch(text):
            return int(text)
    raise NotUnderstoodError(f"{key}: {value!r} is not a whole number or a percentage")


def whole_number(value: Any, key: str) -> int:
    """A replica count: a whole number (Helm may write one as a string, `"2"`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return int(value)
    raise NotUnderstoodError(f"{key}: {value!r} is not a whole number")


def _scaled(amount: int | str, replicas: int) -> int:
    """An amount against `replicas`; a percentage rounded up, as Kubernetes does for both
    minAvailable and maxUnavailable (`GetScaledValueFromIntOrPercent(..., roundUp=true)`)."""
    if isinstance(amount, int):
        return amount
    percent = int(amount[:-1])
    return -(-percent * replicas // 100)


def allowed_disruptions(key: str, amount: int | str, replicas: int) -> int:
    """Evictions a budget allows with all `replicas` pods healthy.

    `key` is `minAvailable` or `maxUnavailable`; `amount` a whole number or `"NN%"`.
    """
    if key == "minAvailable":
        return max(0, replicas - _scaled(amount, replicas))
    desired_healthy = max(0, replicas - _scaled(amount, replicas))
    return replicas - desired_healthy


def _advice(key: str, amount: int | str, replicas: int) -> str:
    if key == "minAvailable":
        keeps = _scaled(amount, replicas)
        if isinstance(amount, str) and amount == "100%":
            return "use maxUnavailable: 1 instead"
        return f"run at least {keeps + 1} replicas, or use maxUnavailable: 1 instead"
    return "set maxUnavailable: 1 (or more)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def judge(
    where: str,
    name: str,
    key: str,
    amount: int | str,
    replicas: int,
    workloads: tuple[str, ...],
    setting: str | None = None,
) -> Budget:
    """Evaluate one budget that covers `replicas` pods of `workloads`."""
    setting = setting or f"{key}: {amount}"
    allowed = allowed_disruptions(key, amount, replicas)
    problem = None
    if replicas > 0 and allowed == 0:
        problem = (
            f"{where}: {name} ({setting}) allows no disruption of the "
            f"{_plural(replicas, 'pod')} of {', '.join(workloads)}: {WHY}; "
            f"{_advice(key, amount, replicas)}"
        )
    return Budget(where, name, setting, replicas, workloads, allowed, problem)


def _not_understood(where: str, name: str, reason: str) -> Budget:
    problem = (
        f"{where}: {name}: {reason}; this check cannot tell whether it lets a node drain ({WHY})"
    )
    return Budget(where, name, "?", 0, (), None, problem)
