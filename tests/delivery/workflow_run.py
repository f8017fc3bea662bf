"""Which jobs of a workflow run, for one event and the outcome of each job that runs: GitHub's
rules for `needs` and `jobs.<id>.if`, enough of them to test deploy.yml's conditions
(docs/delivery.md, "Deploying one stack").

The rules, from GitHub's documentation ("Evaluate expressions in workflows and actions",
"Using jobs in a workflow", "Control jobs with conditions"):

- a job is evaluated once every job of its `needs` has finished (succeeded, failed, was skipped
  or cancelled); its `if` is then evaluated, and a false one skips the job;
- without `if` the condition is `success()`; an `if` that calls no status function (`success`,
  `failure`, `cancelled`, `always`) is read as `success() && (<if>)`;
- at job level `success()` is true when every job it needs, directly or through another one,
  succeeded, `failure()` when one of them failed ("if any ancestor job fails"), `cancelled()`
  when the run was cancelled, `always()` always;
- `inputs` is empty outside `workflow_dispatch` (so `inputs.x` is null there), and a dispatch
  gets each input's `default` unless given; a choice outside its options is refused;
- `a || b` is the first truthy operand (else the last), `a && b` the first falsy one (else the
  last); false, 0, '', null and NaN are falsy;
- `==` compares strings ignoring case, and values of different types as numbers (null is 0,
  true 1, a string that is not a number NaN, which equals nothing).

Parenthesised and the usual precedence: `!`, then comparisons, `==`/`!=`, `&&`, `||` (actions/
runner, `src/Sdk/DTExpressions2`). Unknown names and functions raise, so a typo fails a test
rather than reading as null (actionlint checks the names against the workflow as well).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUS_FUNCTIONS = frozenset({"success", "failure", "cancelled", "always"})
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>().,\[\]])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_WHOLE = re.compile(r"^\s*\$\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


class ExpressionError(ValueError):
    """An expression this evaluator cannot read (or GitHub would not)."""


@dataclass(frozen=True)
class Node:
    kind: str  # literal, name, call, dot, index, not, binary
    value: Any = None
    args: tuple[Node, ...] = ()


def tokens(text: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(text):
        if not text[at:].strip():
            break
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise ExpressionError(f"cannot read {text[at:]!r} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match[kind]))
        at = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.items = tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        item = self.peek()
        if item is None or (op is not None and item != ("op", op)):
            raise ExpressionError(f"expected {op or 'more'} at token {self.at} of {self.text!r}")
        self.at += 1
        return item

    def accept(self, *ops: str) -> str | None:
        item = self.peek()
        if item is not None and item[0] == "op" and item[1] in ops:
            self.at += 1
            return item[1]
        return None

    def parse(self) -> Node:
        node = self.binary(0)
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()} in {self.text!r}")
        return node

    LEVELS: tuple[tuple[str, ...], ...] = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="))

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while op := self.accept(*self.LEVELS[level]):
            node = Node("binary", op, (node, self.binary(level + 1)))
        return node

    def unary(self) -> Node:
        if self.accept("!"):
            return Node("not", None, (self.unary(),))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                kind, name = self.take()
                if kind != "name":
                    raise ExpressionError(f"expected a property name in {self.text!r}")
                node = Node("dot", name, (node,))
            elif self.accept("["):
                node = Node("index", None, (node, self.binary(0)))
                self.take("]")
            else:
                return node

    def primary(self) -> Node:
        if self.accept("("):
            node = self.binary(0)
            self.take(")")
            return node
        kind, text = self.take()
        if kind == "string":
            return Node("literal", text[1:-1].replace("''", "'"))
        if kind == "number":
            return Node("literal", float(text))
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false", "null"):
            return Node("literal", {"true": True, "false": False, "null": None}[text])
        if self.accept("("):
            args: list[Node] = []
            if not self.accept(")"):
                args.append(self.binary(0))
                while self.accept(","):
                    args.append(self.binary(0))
                self.take(")")
            return Node("call", text, tuple(args))
        return Node("name", text)


def parse_condition(condition: str) -> Node:
    """A job's `if`, with or without `${{ }}`. A `${{ }}` that does not wrap the whole value
    is refused: GitHub reads such a value as a non-empty string, which is always true."""
    whole = _WHOLE.match(condition)
    if whole:
        condition = whole["expr"]
    if "${{" in condition:
        raise ExpressionError(f"`${{{{ }}}}` inside a condition, always true: {condition!r}")
    return _Parser(condition).parse()


def calls(node: Node) -> set[str]:
    found = {node.value} if node.kind == "call" else set()
    for arg in node.args:
        found |= calls(arg)
    return found


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right) and not isinstance(left, (int, float)):
        return left is right if isinstance(left, (dict, list)) else left == right
    return _number(left) == _number(right)


@dataclass(frozen=True)
class Status:
    """What the status functions of one job see."""

    ancestors: tuple[str, ...]
    results: Mapping[str, str]
    cancelled: bool

    def call(self, name: str) -> bool:
        mine = [self.results[a] for a in self.ancestors]
        return {
            "success": not self.cancelled and all(r == "success" for r in mine),
            "failure": not self.cancelled and any(r == "failure" for r in mine),
            "cancelled": self.cancelled,
            "always": True,
        }[name]


def evaluate(node: Node, context: Mapping[str, Any], status: Status | None = None) -> Any:
    if node.kind == "literal":
        return node.value
    if node.kind == "name":
        if node.value not in context:
            raise ExpressionError(f"unknown context {node.value!r}")
        return context[node.value]
    if node.kind in ("dot", "index"):
        base = evaluate(node.args[0], context, status)
        name = node.value if node.kind == "dot" else evaluate(node.args[1], context, status)
        if isinstance(base, Mapping):
            matches = [v for k, v in base.items() if str(k).casefold() == str(name).casefold()]
            return matches[0] if matches else None
        return None
    if node.kind == "not":
        return not truthy(evaluate(node.args[0], context, status))
    if node.kind == "call":
        if node.value in STATUS_FUNCTIONS:
            if status is None or node.args:
                raise ExpressionError(f"{node.value}() outside a job's `if`")
            return status.call(node.value)
        args = [evaluate(a, context, status) for a in node.args]
        if node.value == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(equal(item, needle) for item in haystack)
            return str(needle).casefold() in str(haystack).casefold()
        if node.value in ("startsWith", "endsWith"):
            text, part = (str(a).casefold() for a in args)
            return text.startswith(part) if node.value == "startsWith" else text.endswith(part)
        raise ExpressionError(f"unknown function {node.value}()")
    left = evaluate(node.args[0], context, status)
    if node.value == "&&":
        return left if not truthy(left) else evaluate(node.args[1], context, status)
    if node.value == "||":
        return left if truthy(left) else evaluate(node.args[1], context, status)
    right = evaluate(node.args[1], context, status)
    if node.value == "==":
        return equal(left, right)
    if node.value == "!=":
        return not equal(left, right)
    a, b = _number(left), _number(right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[node.value]


def needs(job: Mapping[str, Any]) -> list[str]:
    direct = job.get("needs") or []
    return [direct] if isinstance(direct, str) else list(direct)


def order(jobs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The jobs, each after every job it needs (GitHub refuses a cycle; so does this)."""
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ExpressionError(f"a cycle of needs: {' -> '.join((*path, name))}")
        if name not in jobs:
            raise ExpressionError(f"{path[-1]} needs {name!r}, which is no job")
        if name not in done:
            for other in needs(jobs[name]):
                visit(other, (*path, name))
            done.append(name)

    for name in jobs:
        visit(name, ())
    return done


def ancestors(jobs: Mapping[str, Mapping[str, Any]], name: str) -> set[str]:
    found = set(needs(jobs[name]))
    for other in list(found):
        found |= ancestors(jobs, other)
    return found


def dispatch_inputs(workflow: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    declared = ((workflow.get("on") or {}).get("workflow_dispatch") or {}).get("inputs") or {}
    unknown = set(given) - set(declared)
    if unknown:
        raise ExpressionError(f"no such input: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        value = given.get(name, spec.get("default"))
        if spec.get("type") == "choice" and value not in spec.get("options", []):
            raise ExpressionError(f"input {name}: {value!r} is not one of {spec.get('options')}")
        values[name] = value
    return values


def run(
    workflow: Mapping[str, Any],
    event: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    outcomes: Mapping[str, str] | None = None,
    ref: str = "refs/heads/main",
) -> dict[str, str]:
    """Each job's result, in order: `skipped` when its condition is false, else its outcome
    from `outcomes` (`success` by default; `failure`, or `cancelled`: the run is cancelled while
    that job runs, and every later condition sees `cancelled()`)."""
    jobs: Mapping[str, Mapping[str, Any]] = workflow["jobs"]
    outcomes = outcomes or {}
    values = dispatch_inputs(workflow, inputs or {}) if event == "workflow_dispatch" else {}
    if inputs and event != "workflow_dispatch":
        raise ExpressionError(f"a {event} event has no inputs")
    results: dict[str, str] = {}
    cancelled = False
    for name in order(jobs):
        job = jobs[name]
        condition = str(job.get("if", "success()"))
        node = parse_condition(condition)
        if not calls(node) & STATUS_FUNCTIONS:
            node = Node("binary", "&&", (Node("call", "success"), node))
        context = {
            "github": {"event_name": event, "ref": ref},
            "inputs": values,
            "needs": {n: {"result": results[n], "outputs": {}} for n in needs(job)},
        }
        status = Status(tuple(sorted(ancestors(jobs, name))), results, cancelled)
        if not truthy(evaluate(node, context, status)):
            results[name] = "skipped"
            continue
        results[name] = outcomes.get(name, "success")
        cancelled = cancelled or results[name] == "cancelled"
    return results


def ran(results: Mapping[str, str]) -> list[str]:
    """The jobs that started, in order."""
    return [name for name, result in results.items() if result != "skipped"]
