"""Grafana dashboards shipped as ConfigMaps (label `grafana_dashboard: "1"`, what the Grafana
chart's dashboard sidecar loads): every PromQL query parses, and every recording rule it reads is
recorded by some PrometheusRule.

Queries are the `expr` of each panel's `targets[]` (panels nested in rows and the old `rows[]`
layout included) and the PromQL inside the dashboard's query variables (`label_values(<selector>,
<label>)`, `query_result(<expr>)`). A target whose data source is not Prometheus (an explicit
`type`, or a data-source variable of another `query` type) is skipped.

Grafana replaces its variables before the query reaches Prometheus, so they are replaced here
first: inside a string literal (`{namespace="$namespace"}`) a variable stays as it is (any string
is a valid matcher value); elsewhere `$__rate_interval`, `$__interval`, `$__range` and the
dashboard's `interval` variables become a duration, `$__range_s`, `$__range_ms` and
`$__interval_ms` a number, a custom, constant or text-box variable its current value. Any other
variable outside a string cannot be checked and is reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .promql import RECORDING_RULE_NAME, PromQLError, metric_names, parse
from .rules import recorded_names

DASHBOARD_LABEL = ("grafana_dashboard", "1")
_DURATION_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__auto": "1m"}
_NUMBER_VARS = {"__range_s": "3600", "__range_ms": "3600000", "__interval_ms": "60000"}
_VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::[^}]*)?\}|\[\[(?P<bracketed>\w+)(?::[^\]]*)?\]\]|\$(?P<plain>\w+)"
)
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((?P<args>.*)\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\s*\((?P<expr>.*)\)\s*$", re.DOTALL)


def is_dashboard_configmap(obj: Any) -> bool:
    if not isinstance(obj, dict) or obj.get("kind") != "ConfigMap" or obj.get("apiVersion") != "v1":
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(DASHBOARD_LABEL[0])) == DASHBOARD_LABEL[1]


def _split_strings(expr: str) -> list[tuple[bool, str]]:
    """The expression cut into (inside a string literal?, text) runs."""
    out: list[tuple[bool, str]] = []
    current, quote, i = "", None, 0
    while i < len(expr):
        char = expr[i]
        if quote is None and char in "\"'`":
            out.append((False, current))
            current, quote = char, char
        elif quote is not None and char == "\\" and quote != "`" and i + 1 < len(expr):
            current += expr[i : i + 2]
            i += 1
        elif quote is not None and char == quote:
            out.append((True, current + char))
            current, quote = "", None
        else:
            current += char
        i += 1
    out.append((quote is not None, current))
    return [(inside, text) for inside, text in out if text]


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    templating = dashboard.get("templating") or {}
    items = templating.get("list") if isinstance(templating, dict) else None
    return {
        str(v["name"]): v
        for v in (items if isinstance(items, list) else [])
        if isinstance(v, dict) and v.get("name")
    }


def _value_of(variable: dict[str, Any]) -> str | None:
    kind = variable.get("type")
    if kind == "interval":
        return "5m"
    if kind in ("custom", "constant", "textbox"):
        current = variable.get("current") or {}
        value = current.get("value") if isinstance(current, dict) else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            value = variable.get("query")
        if isinstance(value, str) and re.fullmatch(r"[\w.]+", value):
            return value
    return None


def substitute(expr: str, variables: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The expression with Grafana's variables replaced as Grafana would, and the variables that
    could not be (outside a string, of no known value)."""
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bracketed") or match.group("plain")
        if name in _DURATION_VARS:
            return _DURATION_VARS[name]
        if name in _NUMBER_VARS:
            return _NUMBER_VARS[name]
        value = _value_of(variables[name]) if name in variables else None
        if value is None:
            unknown.append(name)
            return match.group(0)
        return value

    parts = [
        text if inside else _VARIABLE.sub(replace, text) for inside, text in _split_strings(expr)
    ]
    return "".join(parts), unknown


def _panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("panels", "rows"):
        items = container.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                yield item
                yield from _panels(item)


def _datasource_type(value: Any, variables: dict[str, dict[str, Any]]) -> str | None:
    """The data source's type when the dashboard says it, else None (taken as Prometheus)."""
    if isinstance(value, dict):
        kind = value.get("type")
        uid = value.get("uid")
        if isinstance(uid, str) and uid.startswith("$"):
            return _datasource_type(uid, variables)
        return kind if isinstance(kind, str) else None
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{?(\w+)\}?", value)
        if match and match.group(1) in variables:
            variable = variables[match.group(1)]
            if variable.get("type") == "datasource" and isinstance(variable.get("query"), str):
                return variable["query"]
    return None


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL with Grafana's syntax) of every Prometheus query of the dashboard."""
    variables = _variables(dashboard)
    for panel in _panels(dashboard):
        title = panel.get("title") or f"id {panel.get('id', '?')}"
        panel_type = _datasource_type(panel.get("datasource"), variables)
        targets = panel.get("targets")
        for index, target in enumerate(targets if isinstance(targets, list) else []):
            if not isinstance(target, dict) or not isinstance(target.get("expr"), str):
                continue
            kind = _datasource_type(target.get("datasource"), variables) or panel_type
            if kind not in (None, "prometheus"):
                continue
            if target["expr"].strip():
                ref = target.get("refId") or f"#{index + 1}"
                yield f"panel {title!r} target {ref}", target["expr"]
    for name, variable in variables.items():
        if variable.get("type") != "query":
            continue
        if _datasource_type(variable.get("datasource"), variables) not in (None, "prometheus"):
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if not isinstance(query, str):
            continue
        result = _QUERY_RESULT.match(query)
        if result:
            yield f"variable ${name}", result.group("expr")
            continue
        values = _LABEL_VALUES.match(query)
        if values:
            selector, _, _ = values.group("args").rpartition(",")
            if selector.strip():
                yield f"variable ${name}", selector


def _dashboards(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    data = obj.get("data") or {}
    for key, text in data.items() if isinstance(data, dict) else []:
        if not isinstance(text, str):
            continue
        try:
            yield key, json.loads(text)
        except ValueError as exc:
            yield key, exc


def dashboard_problems(objects: Iterable[Any]) -> list[str]:
    """Every problem of the dashboards among `objects`: ConfigMaps labelled
    `grafana_dashboard: "1"`. The recording rules they read are looked up among the
    PrometheusRules in the same `objects`: pass everything Prometheus loads."""
    objects = list(objects)
    recorded = recorded_names(objects)
    out: list[str] = []
    for obj in objects:
        if not is_dashboard_configmap(obj):
            continue
        meta = obj.get("metadata") or {}
        owner = f"ConfigMap {meta.get('namespace', '?')}/{meta.get('name', '?')}"
        if not obj.get("data"):
            out.append(f"{owner}: no dashboard in `data`")
        for key, dashboard in _dashboards(obj):
            where = f"{owner} {key}"
            if isinstance(dashboard, Exception):
                out.append(f"{where}: not JSON: {dashboard}")
                continue
            if not isinstance(dashboard, dict):
                out.append(f"{where}: not a dashboard (a JSON object)")
                continue
            variables = _variables(dashboard)
            for query_where, query in _queries(dashboard):
                expr, unknown = substitute(query, variables)
                for name in unknown:
                    out.append(
                        f"{where}: {query_where}: variable ${name} outside a string has no value "
                        "the check can use"
                    )
                if unknown:
                    continue
                try:
                    tree = parse(expr)
                except PromQLError as exc:
                    out.append(f"{where}: {query_where}: not valid PromQL: {exc}")
                    continue
                for name in sorted(metric_names(tree)):
                    if RECORDING_RULE_NAME.match(name) and name not in recorded:
                        out.append(
                            f"{where}: {query_where}: reads {name}, which no recording rule records"
                        )
    return out
