"""The rules evaluated by Prometheus itself: `promtool check rules` and `promtool test rules`
(the unit tests in tests/monitoring/promtool/) over each environment's rules/common and SLOs.

promtool comes with Prometheus (Debian's package `prometheus`: promtool 2.42); without it on the
PATH these tests are skipped. They show what the offline checks cannot: that the self-referencing
rollout rule keeps its start, that the burn-rate alert fires at 10 % errors and not at 0 %, that
the first failed sync of an application is seen.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import STACKS
from tests.monitoring.test_rules import own_rules

PROMTOOL = shutil.which("promtool")
UNIT_TESTS = sorted((Path(__file__).parent / "promtool").glob("*.yaml"))

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


def _rule_file(env: str, directory: Path) -> Path:
    """The environment's PrometheusRules as one Prometheus rule file, as the operator writes
    each PrometheusRule's `spec` (prometheus-operator pkg/prometheus/operator/rules.go)."""
    groups = [group for obj in own_rules(env) for group in obj["spec"]["groups"]]
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("env", STACKS)
def test_promtool_loads_the_rules(env: str, tmp_path: Path) -> None:
    _rule_file(env, tmp_path)
    result = _promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=[p.stem for p in UNIT_TESTS])
def test_promtool_unit_tests(unit_test: Path, tmp_path: Path) -> None:
    _rule_file("dev", tmp_path)
    shutil.copy(unit_test, tmp_path / unit_test.name)
    result = _promtool("test", "rules", unit_test.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
