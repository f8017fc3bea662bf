"""SLO rules per stack, and the shared SLO of an edge stack's hostnames (tools/slo/edge.py).

- Each stack writes its own folder, `rules/slos/<stack>/`: prod-b, the second cluster of prod,
  never writes prod's (it did, when the folder was the environment's).
- `python -m tools.slo --stack prod-edge` writes the shared SLO of `app.example.com` over prod
  and prod-b: the clusters' rates summed, one value per cluster, under names no cluster records,
  with burn-rate alerts and an alert for a cluster that stops reporting. The rules are for a
  central Prometheus: no kustomization of a cluster lists them.
- promtool evaluates them on two clusters' federated series (tests/monitoring/promtool/edge/),
  and fails on rules that do not deduplicate the replicas.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.edge import EdgeCluster, validate_edge
from offline.paths import REPO_ROOT
from offline.stackfile import read_stack_config
from offline.validators.monitoring import coverage_problems, edge_rule_problems, rule_problems
from offline.validators.monitoring.central import SLO_DIR, central_alert_names
from offline.validators.monitoring.promql import metric_names, parse
from tests.conftest import NS, stack_values, structured, with_key
from tests.monitoring.test_promtool import PROMTOOL, _promtool
from tests.monitoring.test_rules import own_rules
from tools import slo
from tools.slo import edge as slo_edge
from tools.slo import files
from tools.slo.__main__ import main

EDGE = "prod-edge"
CLUSTERS = ("prod", "prod-b")
"""The clusters of the promtool scenario (tests/monitoring/promtool/edge/prod-edge.yaml), whose
rules `scenario_rules()` renders for them whatever the shipped edge lists: taking prod out of
the edge in an emergency (docs/multi-cluster.md, "When a site is down") keeps these tests
green once `python -m tools.slo --stack prod-edge` has regenerated the shipped files."""
EDGE_DIR = SLO_DIR / EDGE
UNIT_TEST = Path(__file__).parent / "promtool" / "edge" / "prod-edge.yaml"
LABELS = {"slo_hostname": "app.example.com", "slo_service": "podinfo/frontend"}
DEDUP = "max by (cluster, slo_hostname, slo_service)"


def _load(path: Path) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(path.read_text(encoding="utf-8")) if o]


def _rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for o in objects for g in o["spec"]["groups"] for r in g["rules"]]


def scenario_rules() -> str:
    """The edge's plain rule file rendered for `CLUSTERS`, from the shipped edge and cluster
    stack files (the hostnames and services as configured)."""
    values = read_stack_config(EDGE)
    edge = validate_edge(values.values, values.secret_keys).config
    assert edge is not None
    members = [EdgeCluster(stack=name) for name in CLUSTERS]
    scenario = type(edge)(
        environment=edge.environment, edge=edge.edge.model_copy(update={"clusters": members})
    )
    clusters = {name: read_stack_config(name).values for name in CLUSTERS}
    rendered = files.render_edge(slo_edge.edge_slo(EDGE, scenario, clusters))
    return rendered[EDGE_DIR / files.RULE_FILE]


def _edge() -> list[dict[str, Any]]:
    return _load(EDGE_DIR / slo.SLO_FILE)


# --- One folder per stack ---------------------------------------------------------------------


def test_each_stack_has_a_folder_of_its_own() -> None:
    folders = {
        stack: {path.parent for path in files.render(stack)}
        for stack in ("dev", "staging", "prod", "prod-b", EDGE)
    }
    assert folders == {stack: {SLO_DIR / stack} for stack in folders}


def test_generating_prod_b_leaves_prods_folder_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prod-b is of the environment prod but routes other admin hostnames (argocd-b, ...): its
    SLOs written into slos/prod, as before, replaced prod's (and `--check` of either stack
    called the other's files stale)."""
    values, _ = stack_values("prod-b")
    assert values[f"{NS}:environment"] == "prod"
    prod_b = files.render("prod-b")[SLO_DIR / "prod-b" / slo.SLO_FILE]
    assert prod_b != (SLO_DIR / "prod" / slo.SLO_FILE).read_text(encoding="utf-8")
    monkeypatch.setattr(files, "RULES_DIR", tmp_path)
    assert main(["--stack", "prod-b"]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["slos/prod-b/kustomization.yaml", "slos/prod-b/slos.yaml"]
    assert main(["--stack", "prod-b", "--check"]) == 0
    assert main(["--stack", "prod", "--check"]) == 1  # prod's files were not written


# --- The edge's rules --------------------------------------------------------------------------


def test_the_edges_check_writes_and_checks_its_four_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--stack", EDGE, "--check"]) == 0  # the shipped files
    monkeypatch.setattr(files, "RULES_DIR", tmp_path)
    assert main(["--stack", EDGE, "--check"]) == 1
    assert main(["--stack", EDGE]) == 0
    assert sorted(p.name for p in (tmp_path / "slos" / EDGE).iterdir()) == [
        "README.md",
        "kustomization.yaml",
        "rules.yaml",
        "slos.yaml",
    ]
    assert main(["--stack", EDGE, "--check"]) == 0


def test_the_edge_records_its_own_names_over_its_clusters() -> None:
    rules = _rules(_edge())
    records = {r["record"]: r for r in rules if "record" in r}
    assert set(records) == {
        "slo_edge:objective:ratio",
        "slo_edge:sli_requests:rate5m",
        "slo_edge:sli_errors:rate5m",
        "slo_edge:error_budget_remaining:ratio",
        *(f"slo_edge:sli_error:ratio_rate{w}" for w in slo.WINDOWS),
    }
    # never a name a cluster records: in a Prometheus that holds both, neither feeds the other
    for cluster in CLUSTERS:
        recorded = {r.get("record") for r in _rules(_load(SLO_DIR / cluster / slo.SLO_FILE))}
        assert not set(records) & recorded
    assert all(r["labels"] == LABELS for name, r in records.items() if "budget" not in name)
    selector = (
        'cluster=~"prod|prod-b", slo_hostname="app.example.com", slo_service="podinfo/frontend"'
    )
    requests = records["slo_edge:sli_requests:rate5m"]["expr"]
    assert requests == (
        "sum by (slo_hostname, slo_service) (\n"
        f"  {DEDUP} (\n"
        f"    slo:sli_requests:rate5m{{{selector}}}\n"
        "  )\n"
        ")"
    )
    errors = records["slo_edge:sli_errors:rate5m"]["expr"]
    assert errors.startswith(requests.replace("sli_requests", "sli_errors"))
    assert errors.endswith(f"\nor\n0 * {requests}")  # 0, not nothing, while requests count
    # every ratio divides by a total filtered with `> 0`: no NaN without traffic
    for window in slo.WINDOWS:
        expr = records[f"slo_edge:sli_error:ratio_rate{window}"]["expr"]
        numerator, denominator = expr.split("\n/\n")
        assert "slo_edge:sli_errors:rate5m{" in numerator
        assert denominator.startswith("(") and denominator.endswith(" > 0)")
        assert ("[" not in expr) == (window == "5m")


def test_the_edges_alerts() -> None:
    alerts = {r["alert"]: r for r in _rules(_edge()) if "alert" in r}
    assert {a: r["labels"]["severity"] for a, r in alerts.items()} == {
        "SLOEdgeErrorBudgetBurnFast": "critical",
        "SLOEdgeErrorBudgetBurnSlow": "warning",
        "SLOEdgeClusterMissing": "warning",
    }
    fast, slow = slo.BURN_RATE_ALERTS
    assert alerts["SLOEdgeErrorBudgetBurnFast"]["expr"] == slo.burn_rate_expr(fast, "slo_edge")
    assert alerts["SLOEdgeErrorBudgetBurnSlow"]["expr"] == slo.burn_rate_expr(slow, "slo_edge")
    assert "slo:" not in alerts["SLOEdgeErrorBudgetBurnFast"]["expr"]
    missing = alerts["SLOEdgeClusterMissing"]
    assert missing["for"] == "15m"
    assert missing["expr"].split("\nor\n") == [
        f'absent(slo:objective:ratio{{cluster="{c}", slo_hostname="app.example.com", '
        'slo_service="podinfo/frontend"})'
        for c in CLUSTERS
    ]
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook_url"] == slo.runbook_url(name)


def test_the_rule_file_holds_the_same_groups() -> None:
    plain = yaml.safe_load((EDGE_DIR / files.RULE_FILE).read_text(encoding="utf-8"))
    assert plain == {"groups": [g for o in _edge() for g in o["spec"]["groups"]]}


def test_the_edges_rules_are_valid_against_its_clusters(tmp_path: Path) -> None:
    assert edge_rule_problems(EDGE, list(CLUSTERS)) == []
    # A cluster whose SLO rules record nothing: the edge reads what no rule records.
    for stack in (EDGE, *CLUSTERS):
        shutil.copytree(SLO_DIR / stack, tmp_path / stack)
    kustomization = tmp_path / "prod-b" / slo.KUSTOMIZATION
    kustomization.write_text(
        kustomization.read_text().replace("resources:\n- slos.yaml", "resources: []")
    )
    problems = edge_rule_problems(EDGE, list(CLUSTERS), tmp_path)
    assert problems and all("(neither the edge's rules nor those of" in p for p in problems)
    assert all(p.endswith("its cluster prod-b)") for p in problems)
    assert any("reads slo:sli_requests:rate5m" in p for p in problems)
    shutil.rmtree(tmp_path / EDGE)
    assert edge_rule_problems(EDGE, list(CLUSTERS), tmp_path) == [
        f"{tmp_path / EDGE}: no SLO rules of the edge stack {EDGE} "
        f"(run python -m tools.slo --stack {EDGE})"
    ]


def test_the_edges_alerts_count_as_documented_but_not_as_a_clusters() -> None:
    """docs/alerts.md documents the edge's alerts; coverage over a cluster's rules (no edge
    rules there) counts the repository's central rules as defined, and without them would
    report the three sections."""
    assert central_alert_names() == {
        "SLOEdgeErrorBudgetBurnFast",
        "SLOEdgeErrorBudgetBurnSlow",
        "SLOEdgeClusterMissing",
    }
    objects = own_rules("dev")
    with_central = coverage_problems(objects)
    without = coverage_problems(objects, also_defined=())
    assert not [p for p in with_central if "SLOEdge" in p]
    assert sorted(p for p in without if "SLOEdge" in p) == [
        f"docs/alerts.md: section {name} documents an alert no rule defines"
        for name in sorted(central_alert_names())
    ]
    # On their own the edge's rules read three series nobody records: the clusters' rules do.
    alone = rule_problems(_edge())
    assert {
        re.sub(r".*reads (\S+), which no recording rule records$", r"\1", p) for p in alone
    } == {
        *slo.RATE_RECORDS,
        "slo:objective:ratio",
    }
    clusters = (*slo.RATE_RECORDS, "slo:objective:ratio")
    assert rule_problems(_edge(), recorded_elsewhere=clusters) == []


def _edge_config(values: dict[str, str] | None = None) -> Any:
    values = values or stack_values(EDGE)[0]
    result = validate_edge(values, stack_values(EDGE)[1])
    assert result.config is not None, result.problems
    return result.config


def test_the_clusters_must_route_the_hostname_to_one_service() -> None:
    clusters = {s: stack_values(s)[0] for s in CLUSTERS}
    edge = slo_edge.edge_slo(EDGE, _edge_config(), clusters)
    assert edge.hostnames == (slo_edge.SharedHostname("app.example.com", "podinfo/frontend"),)
    assert [(c.stack, c.cluster, c.prometheus) for c in edge.clusters] == [
        ("prod", "prod", "prometheus.example.com"),
        ("prod-b", "prod-b", "prometheus-b.example.com"),
    ]
    cloudflare = structured(clusters["prod-b"], "cloudflare")
    app = next(h for h in cloudflare["hostnames"] if h["hostname"] == "app.example.com")
    app["service"] = "http://argocd-server.argocd.svc.cluster.local:80"
    other = {**clusters, "prod-b": with_key(clusters["prod-b"], "cloudflare", cloudflare)}
    with pytest.raises(slo.SloError, match=r"podinfo/frontend in prod, argocd/argocd-server in"):
        slo_edge.edge_slo(EDGE, _edge_config(), other)
    cloudflare["hostnames"].remove(app)
    other = {**clusters, "prod-b": with_key(clusters["prod-b"], "cloudflare", cloudflare)}
    with pytest.raises(slo.SloError, match=r"the cluster stack prod-b does not route it"):
        slo_edge.edge_slo(EDGE, _edge_config(), other)


def test_no_cluster_loads_the_edges_rules() -> None:
    """No kustomization of the tree lists rules/slos/prod-edge: a cluster's Prometheus sees
    only its own series, without `cluster`, where these rules would report every cluster
    missing."""
    listing = []
    for path in sorted((REPO_ROOT / "gitops").rglob("kustomization.yaml")):
        for resource in yaml.safe_load(path.read_text()).get("resources") or []:
            if (path.parent / str(resource)).resolve() == EDGE_DIR.resolve():
                listing.append(str(path.relative_to(REPO_ROOT)))
    assert listing == []


def test_the_readmes_federation_job_reads_what_the_rules_read() -> None:
    readme = (EDGE_DIR / files.README).read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    (job,) = yaml.safe_load(block)["scrape_configs"]
    (match,) = job["params"]["match[]"]
    pattern = re.fullmatch(r'\{__name__=~"(.+)"\}', match)
    assert pattern
    read = {
        name
        for rule in _rules(_edge())
        for name in metric_names(parse(rule["expr"]))
        if name.startswith("slo:")
    }
    assert read == {"slo:sli_requests:rate5m", "slo:sli_errors:rate5m", "slo:objective:ratio"}
    assert all(re.fullmatch(pattern.group(1), name) for name in read)
    assert job["honor_labels"] is True  # keep the clusters' `cluster`, `prometheus_replica`
    assert [t for c in job["static_configs"] for t in c["targets"]] == [
        "prometheus.example.com:443",
        "prometheus-b.example.com:443",
    ]


# --- promtool --------------------------------------------------------------------------------


def _run_unit_test(directory: Path, rules: str) -> str:
    (directory / "rules.yaml").write_text(rules)
    shutil.copy(UNIT_TEST, directory / UNIT_TEST.name)
    result = _promtool("test", "rules", UNIT_TEST.name, cwd=directory)
    return "" if result.returncode == 0 else result.stdout + result.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_loads_the_edges_rules() -> None:
    result = _promtool("check", "rules", files.RULE_FILE, cwd=EDGE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_the_edges_slo_over_two_clusters(tmp_path: Path) -> None:
    rules = scenario_rules()
    assert DEDUP in rules
    assert _run_unit_test(tmp_path, rules) == ""


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
@pytest.mark.parametrize(
    ("dedup", "wrong"),
    [
        # no deduplication: every replica counts
        ("sum by (cluster, slo_hostname, slo_service)", "5E+02"),
        # the replicas of prod-b differ in `instance` too: `max without (prometheus_replica)`
        # keeps both
        ("max without (prometheus_replica)", "5E+02"),
    ],
)
def test_promtool_fails_without_the_deduplication(tmp_path: Path, dedup: str, wrong: str) -> None:
    rules = scenario_rules().replace(DEDUP, dedup)
    output = _run_unit_test(tmp_path, rules)
    assert "FAILED" in output
    assert 'slo_edge:sli_requests:rate5m", slo_hostname="app.example.com"' in output
    assert wrong in output
