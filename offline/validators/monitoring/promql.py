"""PromQL expressions parsed by a real PromQL parser, and the metric names they read.

The parser is the PyPI wheel `promql-parser` (pinned in requirements-dev.txt), Python bindings of
the Rust crate `promql-parser` (GreptimeTeam/promql-parser), a port of Prometheus'
`promql/parser` (its grammar `generated_parser.y`, lexer and the type checks of `parser.go`). It
refuses what Prometheus refuses when it loads a rule file (prometheus `model/rulefmt/rulefmt.go`,
`Rule.Validate`: "could not parse expression"): unbalanced brackets, unknown functions, wrong
argument types and counts (`rate(x)`, `histogram_quantile(x)`), a range on anything but a
selector (`(x)[5m]`), set operators between scalars, comparisons of scalars without `bool`, a
selector that matches the empty label set (`{}`), a metric name given twice, bad regular
expressions. tests/monitoring/test_promql.py pins that behaviour, both ways.

Where version 0.5.0 differs from the Prometheus 3 this platform runs: it does not know the
functions Prometheus added or renamed in 3.x (`info`, `limitk`, `limit_ratio`,
`double_exponential_smoothing`), which it refuses, and it still accepts `holt_winters`, which
Prometheus 3 removed (prometheus CHANGELOG 3.0.0: renamed `double_exponential_smoothing`, behind
`--enable-feature=promql-experimental-functions`); `REMOVED_FUNCTIONS` refuses it here. None of
these rules or dashboards needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import promql_parser

RECORDING_RULE_NAME = re.compile(r"^[a-z_]+:[a-z0-9_:]+$")
"""A metric name in the recording-rule convention `level:metric:operations` (Prometheus docs,
"Recording rules", naming): whoever reads one needs a rule that records it."""

REMOVED_FUNCTIONS = frozenset({"holt_winters"})
"""Functions the parser accepts and Prometheus 3 no longer does."""


class PromQLError(ValueError):
    """The expression is not valid PromQL."""


def parse(expr: str) -> promql_parser.Expr:
    """The expression's syntax tree; PromQLError with the parser's message when Prometheus would
    refuse it."""
    if not isinstance(expr, str) or not expr.strip():
        raise PromQLError("empty expression")
    try:
        tree = promql_parser.parse(expr)
    except Exception as exc:  # the binding raises ValueError or its own error types
        message = str(exc).strip()
        raise PromQLError(message.splitlines()[0] if message else "invalid") from None
    for name in functions(tree):
        if name in REMOVED_FUNCTIONS:
            raise PromQLError(f"function {name}() was removed in Prometheus 3")
    return tree


def _children(node: object) -> Iterator[object]:
    if isinstance(node, promql_parser.MatrixSelector):
        yield node.vector_selector
    elif isinstance(node, promql_parser.AggregateExpr):
        yield node.expr
        if node.param is not None:
            yield node.param
    elif isinstance(node, promql_parser.BinaryExpr):
        yield node.lhs
        yield node.rhs
    elif isinstance(node, promql_parser.Call):
        yield from node.args
    elif isinstance(
        node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        yield node.expr


def _walk(node: object) -> Iterator[object]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(_children(current))


def functions(tree: object) -> set[str]:
    """The functions an expression calls."""
    return {n.func.name for n in _walk(tree) if isinstance(n, promql_parser.Call)}


def metric_names(tree: object) -> set[str]:
    """The metric names an expression selects: each selector's name, or its `__name__="..."`
    matcher (a regular-expression matcher names no single metric and is left out)."""
    names: set[str] = set()
    for node in _walk(tree):
        if not isinstance(node, promql_parser.VectorSelector):
            continue
        if node.name:
            names.add(node.name)
        groups = [node.matchers.matchers, *node.matchers.or_matchers]
        for group in groups:
            for matcher in group:
                if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
                    names.add(matcher.value)
    return names


def recording_rule_references(expr: str) -> set[str]:
    """The metric names of `expr` that follow the recording-rule convention."""
    return {name for name in metric_names(parse(expr)) if RECORDING_RULE_NAME.match(name)}


DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
"""A duration as Prometheus reads `for`, `keep_firing_for` and a group's `interval`
(prometheus/common `model.ParseDuration`), the pattern of prometheus-operator v0.93.0's
`Duration` (`pkg/apis/monitoring/v1/types.go`)."""


def is_duration(text: object) -> bool:
    return isinstance(text, str) and text != "" and DURATION.match(text) is not None
