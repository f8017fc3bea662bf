"""The PrometheusRules of the SLOs: per hostname its request and error rates, error ratios,
objective and origin alerts (`hostname_rule`), and the burn-rate alerts and budget shared by
all hostnames (`burn_rate_rule`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config.models import PublicHostname
from config.repository import tree_repository

from .sources import RequestMetric, service_of, source_of

OBJECTIVE = 0.999
"""The availability objective of every hostname: 99.9 % of requests succeed."""
PERIOD = "30d"
PERIOD_HOURS = 30 * 24
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
"""The windows of `slo:sli_error:ratio_rate<window>`: those the alerts read (5m, 30m, 1h, 6h,
3d), 2h and 1d for the dashboards, and the SLO's period."""
LONG_WINDOWS = ("1d", "3d", "30d")
"""Built from the recorded 5-minute rates (`RATE_RECORDS`), not from the raw counters: a ratio
over 30 days of every series of a service, every 2 minutes, would cost more than all other rules
together; over two recorded series per hostname it is cheap."""
LONG_WINDOW_INTERVAL = "2m"
"""Evaluation interval of the long windows' group: a rate over days changes slowly. Under
Prometheus' 5 minute lookback, so an alert reading them always finds a value."""
RATE_WINDOW = "5m"
REQUESTS_RATE = f"slo:sli_requests:rate{RATE_WINDOW}"
ERRORS_RATE = f"slo:sli_errors:rate{RATE_WINDOW}"
RATE_RECORDS = (REQUESTS_RATE, ERRORS_RATE)
"""Per hostname, every evaluation: requests per second over 5 minutes, and the failed ones (0
with requests and no failure; neither without a request series)."""


class SloError(Exception):
    """The stack cannot be given its SLOs (the message says why)."""


@dataclass(frozen=True)
class BurnRate:
    long: str
    short: str
    factor: float

    def budget_spent(self) -> float:
        """Fraction of the period's error budget spent over the long window at this burn rate."""
        return self.factor * _hours(self.long) / PERIOD_HOURS


@dataclass(frozen=True)
class BurnRateAlert:
    alert: str
    severity: str
    rates: tuple[BurnRate, ...]
    summary: str
    meaning: str


BURN_RATE_ALERTS = (
    BurnRateAlert(
        "SLOErrorBudgetBurnFast",
        "critical",
        (BurnRate("1h", "5m", 14.4), BurnRate("6h", "30m", 6)),
        "{{ $labels.slo_hostname }} is burning its error budget fast",
        "2 % of the 30-day error budget in an hour, or 5 % in 6 hours",
    ),
    BurnRateAlert(
        "SLOErrorBudgetBurnSlow",
        "warning",
        (BurnRate("3d", "6h", 1),),
        "{{ $labels.slo_hostname }} is spending its error budget faster than it lasts",
        "10 % of the 30-day error budget in 3 days",
    ),
)


def _hours(window: str) -> float:
    number, unit = int(window[:-1]), window[-1]
    return {"m": number / 60, "h": number, "d": number * 24}[unit]


def runbook_url(alert: str) -> str:
    """The alert's section of docs/alerts.md, on the web page of the tree's repository (the
    repository of gitops/repository/repository.yaml, `main`)."""
    anchor = f"docs/alerts.md#{alert.lower()}"
    url = tree_repository().url
    if url.startswith("https://"):
        return f"{url.removesuffix('.git').rstrip('/')}/blob/main/{anchor}"
    return anchor


def slug(hostname: str) -> str:
    """The hostname as part of a rule or group name: `*.example.com` -> `wildcard-example-com`."""
    return re.sub(r"[^a-z0-9]+", "-", hostname.lower().replace("*", "wildcard")).strip("-")


def _labels(entry: PublicHostname) -> dict[str, str]:
    namespace, service = service_of(entry.service) or ("", "")
    return {"slo_hostname": entry.hostname, "slo_service": f"{namespace}/{service}"}


def _ratio(source: RequestMetric, window: str) -> str:
    """Failed / all requests over the window, from the raw counters. Without traffic (no
    request, or no request series) there is no value: the division by `(... > 0)` leaves no
    sample instead of NaN (0/0)."""
    errors = source.selector(errors=True)
    total = source.selector()
    return (
        f"(\n  sum(rate({errors}[{window}]))\n  or on () vector(0)\n)\n"
        f"/\n(sum(rate({total}[{window}])) > 0)"
    )


def matchers(labels: dict[str, str]) -> str:
    """`k="v", ...`: the equality matchers of these labels."""
    return ", ".join(f'{k}="{v}"' for k, v in labels.items())


def long_ratio(
    labels: dict[str, str], window: str, rates: tuple[str, str] = (REQUESTS_RATE, ERRORS_RATE)
) -> str:
    """Failed / all requests over a long window, from the recorded 5-minute rates (`rates`:
    requests, errors): the sums of both over the same evaluations, so each moment weighs as much
    as its traffic."""
    requests, errors = rates
    m = matchers(labels)
    return (
        f"sum_over_time({errors}{{{m}}}[{window}])\n"
        f"/\n(sum_over_time({requests}{{{m}}}[{window}]) > 0)"
    )


def _rates(source: RequestMetric) -> tuple[str, str]:
    """(requests, errors) per second over 5 minutes. The errors' rate is 0 where requests are
    counted and none failed (an error series appears only with the first failure)."""
    total = f"sum(rate({source.selector()}[{RATE_WINDOW}]))"
    errors = f"sum(rate({source.selector(errors=True)}[{RATE_WINDOW}]))"
    return total, f"{errors}\nor on ()\n0 * {total}"


def rule_meta(name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {
            "app.kubernetes.io/part-of": "talos-platform",
            "app.kubernetes.io/component": component,
        },
    }


def hostname_rule(entry: PublicHostname, source: RequestMetric) -> dict[str, Any]:
    """The PrometheusRule of one hostname: its rates, error ratios, objective and origin
    alerts."""
    labels = _labels(entry)
    name = slug(entry.hostname)
    total, errors = _rates(source)
    short: list[dict[str, Any]] = [
        {"record": "slo:objective:ratio", "expr": f"vector({OBJECTIVE})", "labels": labels},
        {"record": REQUESTS_RATE, "expr": total, "labels": labels},
        {"record": ERRORS_RATE, "expr": errors, "labels": labels},
    ]
    long = []
    for window in WINDOWS:
        if window in LONG_WINDOWS:
            long.append(
                {
                    "record": f"slo:sli_error:ratio_rate{window}",
                    "expr": long_ratio(labels, window),
                    "labels": labels,
                }
            )
        else:
            short.append(
                {
                    "record": f"slo:sli_error:ratio_rate{window}",
                    "expr": _ratio(source, window),
                    "labels": labels,
                }
            )
    workload = source.workload
    origin = [
        {
            "alert": "SLOOriginUnavailable",
            "expr": workload.none_serving(),
            "for": "2m",
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"{entry.hostname} has no backend pod available",
                "description": (
                    f"{workload.kind} {workload.namespace}/{workload.name}, behind "
                    f"{entry.hostname}, has had no {workload.replica()} for 2 minutes: "
                    "every request through the tunnel fails, and the service's own request "
                    "metrics, which the SLO reads, count none of those failures."
                ),
                "runbook_url": runbook_url("SLOOriginUnavailable"),
            },
        },
        {
            "alert": "SLOMetricsMissing",
            "expr": f"absent({source.selector(requests=False)})",
            "for": "15m",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"The SLO of {entry.hostname} has no data",
                "description": (
                    f"Prometheus has had no {source.metric} of {workload.namespace}/"
                    f"{workload.name} for 15 minutes: the SLO of {entry.hostname} and its "
                    "burn-rate alerts see nothing."
                ),
                "runbook_url": runbook_url("SLOMetricsMissing"),
            },
        },
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": rule_meta(f"slo-{name}", "slo"),
        "spec": {
            "groups": [
                {"name": f"slo-{name}", "rules": short},
                {"name": f"slo-{name}-long", "interval": LONG_WINDOW_INTERVAL, "rules": long},
                {"name": f"slo-{name}-origin", "rules": origin},
            ]
        },
    }


def _over(window: str, factor: float, level: str) -> str:
    return (
        f"{level}:sli_error:ratio_rate{window}\n"
        f"  > on (slo_hostname, slo_service) ({factor:g} * (1 - {level}:objective:ratio))"
    )


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def burn_rate_expr(alert: BurnRateAlert, level: str = "slo") -> str:
    """The alert's condition over the ratios and objective recorded as `<level>:...` (`slo`
    per cluster, `slo_edge` over an edge's clusters: tools/slo/edge.py)."""
    pairs = [
        f"(\n{_indent(_over(r.long, r.factor, level))}\n  and on (slo_hostname, slo_service)\n"
        f"{_indent(_over(r.short, r.factor, level))}\n)"
        for r in alert.rates
    ]
    return "\nor on (slo_hostname, slo_service)\n".join(pairs)


def burn_rate_rule() -> dict[str, Any]:
    """The PrometheusRule shared by all hostnames: budget left and the burn-rate alerts."""
    alerts = []
    for alert in BURN_RATE_ALERTS:
        windows = "; ".join(f"{r.factor:g}x over {r.long} and {r.short}" for r in alert.rates)
        alerts.append(
            {
                "alert": alert.alert,
                "expr": burn_rate_expr(alert),
                "labels": {"severity": alert.severity},
                "annotations": {
                    "summary": alert.summary,
                    "description": (
                        "{{ $value | humanizePercentage }} of the requests to "
                        "{{ $labels.slo_hostname }} ({{ $labels.slo_service }}) failed over the "
                        f"alert's long window ({windows}): at that rate the hostname spends "
                        f"{alert.meaning} (SLO: {OBJECTIVE * 100:g} % over {PERIOD})."
                    ),
                    "runbook_url": runbook_url(alert.alert),
                },
            }
        )
    budget = {
        "record": "slo:error_budget_remaining:ratio",
        "expr": (
            f"1 - (\n  slo:sli_error:ratio_rate{PERIOD}\n"
            "  / on (slo_hostname, slo_service) (1 - slo:objective:ratio)\n)"
        ),
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": rule_meta("slo-burn-rate", "slo"),
        "spec": {
            "groups": [
                {"name": "slo-budget", "interval": LONG_WINDOW_INTERVAL, "rules": [budget]},
                {"name": "slo-burn-rate", "rules": alerts},
            ]
        },
    }


def slo_objects(hostnames: Sequence[PublicHostname]) -> list[dict[str, Any]]:
    """The PrometheusRules of these hostnames; SloError naming each hostname whose service has
    no request metric in `SOURCES`."""
    missing = []
    objects = []
    for entry in hostnames:
        source = source_of(entry.service)
        if source is None:
            missing.append(
                f"{entry.hostname}: its service {entry.service} has no request metric in "
                "tools/slo/sources.py SOURCES (add one: which metric counts its requests and "
                "errors)"
            )
            continue
        objects.append(hostname_rule(entry, source))
    if missing:
        raise SloError("; ".join(missing))
    if objects:
        objects.append(burn_rate_rule())
    return objects
