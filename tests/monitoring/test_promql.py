"""The PromQL parser the monitoring checks use (`promql-parser` 0.5.0, a port of Prometheus'
parser) refuses what Prometheus refuses and accepts what Prometheus accepts, for the constructs
these rules and dashboards use; and the metric names it finds."""

from __future__ import annotations

import pytest

from offline.validators.monitoring.promql import (
    PromQLError,
    is_duration,
    metric_names,
    parse,
    recording_rule_references,
)

# What the rules of this repository and the charts' dashboards use, all valid in Prometheus.
ACCEPTED = [
    'sum by (a) (rate(x{a="b"}[5m]))',
    '(sum(x) or on () vector(0)) < 4 * sum(kube_deployment_spec_replicas{namespace="c"})',
    "x unless x offset 15m",
    'absent(up{job="x"})',
    "vector(0.999)",
    "max_over_time(a:b:c[1d])",
    "time() - a:b",
    "timestamp(x or y)",
    "a and on (namespace, name) (b or c)",
    "x / ignoring (z) group_left sum(w)",
    'label_replace(x, "a", "$1", "b", "(.*)")',
    "rate(x[5m:1m])",
    "rate(x[5m:])",  # a subquery's resolution may be left out
    "slo:sli_error:ratio_rate1h > on (slo_hostname) (14.4 * (1 - slo:objective:ratio))",
    "x > bool 1",
    "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
    "max without (instance, pod) (x)",
    "# a comment\nx",
    'x{a=~"5..", b!~"^$"}',
    "x{}",  # a name and no matchers: valid (only `{}` alone is not)
    "x offset 5",  # a number as seconds (generated_parser.y, offset_duration_expr)
    "x[5]",
    "count_over_time(x[30d])",
    "avg_over_time((a > 0)[30d:5m])",
    "x @ 1609746000",
    "sort_desc(topk(3, x))",
    "min(x) by (a)",
    "1 > bool 2",
    "-x ^ 2",
]

# Each refused by Prometheus' parser too (the message of promql/parser/parse.go or
# generated_parser.y in brackets).
REFUSED = [
    "sum(rate(x[5m])",  # unclosed left parenthesis
    "rate(x)",  # expected type range vector in call to function "rate"
    "rat(x[5m])",  # unknown function
    'x{a="b"',  # unexpected end of input
    "x[5m] + 1",  # binary expression must contain only scalar and instant vector types
    "sum(x) by (a) by (b)",
    "{}",  # vector selector must contain at least one non-empty matcher
    '{a=""}',
    "1 and 2",  # set operator "and" not allowed in binary scalar expression
    "1 > 2",  # comparisons between scalars must use BOOL modifier
    "(x)[5m]",  # ranges only allowed for vector selectors
    "sum(x[5m])",  # expected type instant vector in aggregation expression
    "histogram_quantile(x)",  # wrong number of arguments
    'x{a=~"("}',  # error parsing regexp
    'x{__name__="y"}',  # metric name must not be set twice
    "x offset 1h offset 1h",  # offset may not be set multiple times
    'vector("a")',
    "x and on(a) 1",
    "x[5z]",
    "foo bar",
    "x[$__rate_interval]",  # Grafana's variable, not PromQL (substituted first for dashboards)
    "holt_winters(x[5m], 0.5, 0.5)",  # removed in Prometheus 3 (refused by promql.parse)
    "",
]


@pytest.mark.parametrize("expr", ACCEPTED)
def test_accepts_what_prometheus_accepts(expr: str) -> None:
    parse(expr)


@pytest.mark.parametrize("expr", REFUSED)
def test_refuses_what_prometheus_refuses(expr: str) -> None:
    with pytest.raises(PromQLError):
        parse(expr)


def test_metric_names_walk_the_whole_expression() -> None:
    tree = parse(
        '-(sum by (a) (rate(x{a="b"}[5m:1m] offset 1m)) / on (a) group_left y:z)'
        ' + {__name__="q", b="c"} or topk(3, w) or {__name__=~"re:.*"}'
        " or absent_over_time(gone:metric[1h]) or label_replace(lr:m, 'a', '$1', 'b', '(.*)')"
    )
    assert metric_names(tree) == {"x", "y:z", "q", "w", "gone:metric", "lr:m"}


def test_recording_rule_references_follow_the_naming_convention() -> None:
    expr = "slo:sli_error:ratio_rate5m / on () http_requests_total + node:cpu:sum + up"
    assert recording_rule_references(expr) == {"slo:sli_error:ratio_rate5m", "node:cpu:sum"}


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("0", True),
        ("15s", True),
        ("1h30m", True),
        ("2d", True),
        ("100ms", True),
        ("1.5m", False),
        ("", False),
        ("5 m", False),
        ("m", False),
        (5, False),
    ],
)
def test_durations_as_prometheus_reads_them(text: object, valid: bool) -> None:
    assert is_duration(text) is valid
