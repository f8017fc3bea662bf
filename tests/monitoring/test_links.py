"""The links Prometheus, Alertmanager and Grafana put in alerts and pages point at the stack's
admin hostnames (docs/monitoring.md, "Reaching the UIs"): Prometheus' and Alertmanager's
`externalUrl` (each alert's "Source" link, the notifications' silence and alert links) and
Grafana's `server.root_url`, against the hostnames of `cloudflare.hostnames[]` in
`Pulumi.<stack>.yaml` routed to their Services. Without them, a link in a notification points
at `http://kube-prometheus-stack-prometheus.monitoring:9090` (the chart's default), which no one
outside the cluster can open."""

from __future__ import annotations

import configparser
import json
from typing import Any

import pytest

from tests.conftest import NS, STACKS, stack_values
from tests.monitoring.test_rules import everything
from tools.slo import service_of

SERVICES = {
    "prometheus": ("monitoring", "kube-prometheus-stack-prometheus"),
    "alertmanager": ("monitoring", "kube-prometheus-stack-alertmanager"),
    "grafana": ("monitoring", "grafana"),
}


def admin_urls(stack: str) -> dict[str, str]:
    """https://<hostname> of the admin hostname routed to each monitoring UI."""
    values, _ = stack_values(stack)
    hostnames = json.loads(values[f"{NS}:cloudflare"])["hostnames"]
    urls = {}
    for ui, service in SERVICES.items():
        [entry] = [h for h in hostnames if service_of(h["service"]) == service]
        assert entry.get("admin") is True, entry
        urls[ui] = f"https://{entry['hostname']}"
    return urls


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_alertmanager_and_grafana_link_to_their_admin_hostnames(stack: str) -> None:
    urls = admin_urls(stack)
    objects = everything(stack)
    prometheus = _one(objects, "Prometheus", "kube-prometheus-stack-prometheus")
    assert prometheus["spec"]["externalUrl"] == urls["prometheus"]
    alertmanager = _one(objects, "Alertmanager", "kube-prometheus-stack-alertmanager")
    assert alertmanager["spec"]["externalUrl"] == urls["alertmanager"]
    ini = configparser.ConfigParser()
    ini.read_string(_one(objects, "ConfigMap", "grafana")["data"]["grafana.ini"])
    assert ini["server"]["root_url"] == urls["grafana"] + "/"
    # No sub-path: the probes, the ServiceMonitors (/metrics) and the tunnel's routes stay at /.
    assert prometheus["spec"].get("routePrefix", "/") == "/"
    assert alertmanager["spec"].get("routePrefix", "/") == "/"


def test_prod_hostnames_have_no_environment_suffix() -> None:
    assert admin_urls("prod") == {
        "prometheus": "https://prometheus.example.com",
        "alertmanager": "https://alertmanager.example.com",
        "grafana": "https://grafana.example.com",
    }
    assert admin_urls("dev")["grafana"] == "https://grafana-dev.example.com"


def test_grafana_ini_is_free_form_for_the_values_check() -> None:
    """Every key of `grafana.ini` reaches Grafana's configuration file (the grafana chart's
    templates/_config.tpl ranges over the whole map), so the offline check of unread values
    (offline/validators/helm_values.py) takes `server.root_url` and still names a misspelling
    next to it."""
    from offline.validators import helm_render, helm_values

    chart = helm_render.CHARTS_DIR / "kube-prometheus-stack"
    values = {
        "grafana": {
            "grafana.ini": {"server": {"root_url": "https://grafana.example.com/"}},
            "grafana_ini": {"server": {"root_url": "https://grafana.example.com/"}},
        }
    }
    assert helm_values.ignored_values(chart, values) == ["grafana.grafana_ini"]
