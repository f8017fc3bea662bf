"""`python -m tools.promote`, on copies of the stack files and GitOps overlays in tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from offline.paths import REPO_ROOT
from offline.stackfile import read_stack_config
from tools.promote import dump, load, main
from tools.versions import NotAVersionError, Version, is_downgrade

OVERLAY = "gitops/apps/podinfo/overlays/{env}/kustomization.yaml"
PODINFO = "podinfo (ghcr.io/stefanprodan/podinfo)"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "gitops" / "apps", tmp_path / "gitops" / "apps")
    return tmp_path


def promote(repo: Path, *argv: str) -> int:
    return main([*argv, "--root", str(repo)])


def set_line(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name}: {old!r}"
    path.write_text(text.replace(old, new))


def pin(repo: Path, env: str, key: str, value: str) -> None:
    """Set `talos-platform:<key>: <value>` in the stack file: the line it pins already (dev pins
    its versions), else a new one after the stack's cluster_name."""
    path = repo / f"Pulumi.{env}.yaml"
    prefix = f"  talos-platform:{key}: "
    [*current] = [line for line in path.read_text().splitlines() if line.startswith(prefix)]
    if current:
        set_line(path, current[0] + "\n", f"{prefix}{value}\n")
        return
    anchor = f"  talos-platform:cluster_name: {env}\n"
    set_line(path, anchor, f"{anchor}{prefix}{value}\n")


def tag(repo: Path, env: str) -> str:
    for line in (repo / OVERLAY.format(env=env)).read_text().splitlines():
        if line.strip().startswith("newTag:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no newTag")


def set_tag(repo: Path, env: str, value: str) -> None:
    set_line(repo / OVERLAY.format(env=env), f"newTag: {tag(repo, env)}\n", f"newTag: {value}\n")


# --- Versions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("v1.13.9", "v1.13.10"),
        ("2026.9.0", "2026.10.0"),
        ("10.1.1", "10.2.0"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-rc.2", "1.0.0-rc.10"),
        ("v1.13", "v1.13.1"),
    ],
)
def test_versions_order_numerically(older: str, newer: str) -> None:
    assert Version(older) < Version(newer)
    assert is_downgrade(newer, older) and not is_downgrade(older, newer)


def test_versions_equal_across_spellings_and_reject_words() -> None:
    assert Version("v1.13.0") == Version("1.13")
    with pytest.raises(NotAVersionError, match="'latest' is not a version"):
        Version("latest")


# --- Promoting -----------------------------------------------------------------------------------


def test_promotes_stack_pins_and_app_tags_keeping_the_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin(repo, "dev", "talos_version", "v1.13.10")
    set_tag(repo, "dev", "6.10.0")
    staging = repo / "Pulumi.staging.yaml"
    before = staging.read_text()
    overlay_before = (repo / OVERLAY.format(env="staging")).read_text()

    assert promote(repo, "--from", "dev", "--to", "staging") == 0

    out = capsys.readouterr().out.splitlines()
    assert "  talos_version: v1.13.9 (project default) -> v1.13.10" in out
    assert f"  {PODINFO}: 6.9.2 -> 6.10.0" in out
    assert out[-1].startswith("promoted 2 version(s) from dev to staging")
    # One line added to the stack file, one changed in the overlay; comments and layout stay.
    after = staging.read_text().splitlines()
    assert [line for line in after if line not in before.splitlines()] == [
        "  talos-platform:talos_version: v1.13.10"
    ]
    assert len(after) == len(before.splitlines()) + 1
    overlay_after = (repo / OVERLAY.format(env="staging")).read_text()
    assert overlay_after == overlay_before.replace("newTag: 6.9.2", "newTag: 6.10.0")
    # What Pulumi will read from the edited file.
    values = read_stack_config("staging", staging, repo / "Pulumi.yaml").values
    assert values["talos-platform:talos_version"] == "v1.13.10"
    # Promoting again finds nothing to do.
    assert promote(repo, "--from", "dev", "--to", "staging") == 0
    assert "nothing to promote" in capsys.readouterr().out


def test_a_key_absent_from_the_source_takes_the_project_default(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin(repo, "prod", "cloudflared_version", "2026.9.0")
    assert promote(repo, "--from", "staging", "--to", "prod") == 0
    assert "  cloudflared_version: 2026.9.0 -> 2026.10.0" in capsys.readouterr().out
    assert (
        "talos-platform:cloudflared_version: 2026.10.0\n" in (repo / "Pulumi.prod.yaml").read_text()
    )


def test_dry_run_writes_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    set_tag(repo, "staging", "6.9.3")
    before = (repo / OVERLAY.format(env="prod")).read_text()
    assert promote(repo, "--from", "staging", "--to", "prod", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"  {PODINFO}: 6.9.1 -> 6.9.3" in out
    assert "dry run: 1 change(s), nothing written" in out
    assert (repo / OVERLAY.format(env="prod")).read_text() == before


def test_a_downgrade_is_refused_unless_allowed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin(repo, "staging", "talos_version", "v1.13.10")
    set_tag(repo, "dev", "6.9.1")
    before = (repo / "Pulumi.staging.yaml").read_text()
    assert promote(repo, "--from", "dev", "--to", "staging") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        "error: Pulumi.staging.yaml: talos-platform:talos_version: v1.13.9 in dev is older than "
        "v1.13.10 in staging" in captured.err
    )
    assert f"{OVERLAY.format(env='staging')}: ghcr.io/stefanprodan/podinfo: 6.9.1 in dev" in (
        captured.err
    )
    assert (repo / "Pulumi.staging.yaml").read_text() == before

    assert promote(repo, "--from", "dev", "--to", "staging", "--allow-downgrade") == 0
    assert "talos_version: v1.13.10 -> v1.13.9" in capsys.readouterr().out
    assert "talos-platform:talos_version: v1.13.9\n" in (repo / "Pulumi.staging.yaml").read_text()


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("dev", "prod", "--from dev --to prod skips an environment"),
        ("prod", "staging", "--from prod --to staging does not go forward"),
        ("staging", "staging", "does not go forward"),
    ],
)
def test_environments_are_promoted_one_step_at_a_time(
    repo: Path, capsys: pytest.CaptureFixture[str], source: str, target: str, message: str
) -> None:
    assert promote(repo, "--from", source, "--to", target) == 2
    err = capsys.readouterr().err
    assert message in err and "(dev -> staging -> prod)" in err


@pytest.mark.parametrize("argv", [("--from", "dev", "--to", "qa"), ("--from", "qa", "--to", "dev")])
def test_an_unknown_environment_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    assert promote(repo, *argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: unknown environment or cluster 'qa' (no Pulumi.qa.yaml): expected one of dev, "
        "staging, prod, or a cluster stack of one\n"
    )


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("Pulumi.staging.yaml", None, "Pulumi.staging.yaml: no such file"),
        ("Pulumi.staging.yaml", "config: [a\n", "Pulumi.staging.yaml: not valid YAML"),
        ("Pulumi.staging.yaml", "config: 3\n", "Pulumi.staging.yaml: expected a `config:` mapping"),
        (
            "Pulumi.dev.yaml",
            "config:\n  talos-platform:environment: dev\n"
            "  talos-platform:kubernetes_version: 1.36\n",
            "Pulumi.dev.yaml: talos-platform:kubernetes_version: expected a version string, "
            "found 1.36 (quote it)",
        ),
        (
            "Pulumi.staging-b.yaml",
            "config:\n  talos-platform:cluster_name: staging-b\n",
            "Pulumi.staging-b.yaml: talos-platform:environment is not set",
        ),
        (
            OVERLAY.format(env="staging"),
            "images: []\n",
            f"{OVERLAY.format(env='staging')}: expected an `images:` list",
        ),
        (OVERLAY.format(env="staging"), None, f"{OVERLAY.format(env='staging')}: no such file"),
    ],
)
def test_missing_or_malformed_files_fail_naming_file_and_key(
    repo: Path, capsys: pytest.CaptureFixture[str], file: str, content: str | None, message: str
) -> None:
    pin(repo, "dev", "talos_version", "v1.13.10")  # something to write, were nothing wrong
    stack_before = (repo / "Pulumi.staging.yaml").read_text()
    path = repo / file
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    assert promote(repo, "--from", "dev", "--to", "staging") == 1
    captured = capsys.readouterr()
    assert f"error: {message}" in captured.err
    assert "Traceback" not in captured.err
    if file.startswith("gitops/"):  # a broken overlay stops the stack file's edit too
        assert (repo / "Pulumi.staging.yaml").read_text() == stack_before


def test_round_trip_keeps_every_shipped_file_byte_for_byte() -> None:
    files = sorted(REPO_ROOT.glob("Pulumi.*.yaml"))
    files += sorted((REPO_ROOT / "gitops" / "apps").glob("*/overlays/*/kustomization.yaml"))
    assert len(files) >= 6
    for path in files:
        document = load(path, REPO_ROOT)
        assert dump(document) == document.text, path


# --- Several clusters in one environment (docs/multi-cluster.md) ---------------------------------


@pytest.fixture
def fleet(repo: Path) -> Path:
    """The repository's prod with its second cluster and its edge stack."""
    for name in ("Pulumi.prod-b.yaml", "Pulumi.prod-edge.yaml"):
        shutil.copy(REPO_ROOT / name, repo / name)
    return repo


def test_every_cluster_of_the_target_environment_gets_the_pins(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prod and prod-b move together (one Talos and Kubernetes minor per environment, the fleet
    check); the edge stack pins nothing and is left alone."""
    pin(fleet, "staging", "kubernetes_version", "v1.36.3")
    edge_before = (fleet / "Pulumi.prod-edge.yaml").read_text()
    assert promote(fleet, "--from", "staging", "--to", "prod", "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    # File by file, the environment's own stack first.
    changes = [line for line in out if line.startswith(("Pulumi.", "  kubernetes_version"))]
    assert changes == [
        "Pulumi.prod.yaml",
        "  kubernetes_version: v1.36.2 (project default) -> v1.36.3",
        "Pulumi.prod-b.yaml",
        "  kubernetes_version: v1.36.2 (project default) -> v1.36.3",
    ]
    assert promote(fleet, "--from", "staging", "--to", "prod") == 0
    assert "Pulumi.prod.yaml, Pulumi.prod-b.yaml" in capsys.readouterr().out
    for stack in ("prod", "prod-b"):
        values = read_stack_config(stack, fleet / f"Pulumi.{stack}.yaml", fleet / "Pulumi.yaml")
        assert values.values["talos-platform:kubernetes_version"] == "v1.36.3", stack
    assert (fleet / "Pulumi.prod-edge.yaml").read_text() == edge_before


def test_a_target_cluster_ahead_is_a_downgrade_refused_for_all(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prod-b upgraded by hand ahead of staging: nothing is written, prod included."""
    pin(fleet, "staging", "talos_version", "v1.13.10")
    set_line(
        fleet / "Pulumi.prod-b.yaml",
        "  talos-platform:cluster_name: prod-b\n",
        "  talos-platform:cluster_name: prod-b\n  talos-platform:talos_version: v1.13.11\n",
    )
    before = (fleet / "Pulumi.prod.yaml").read_text()
    assert promote(fleet, "--from", "staging", "--to", "prod") == 1
    err = capsys.readouterr().err
    assert "Pulumi.prod-b.yaml: talos-platform:talos_version: v1.13.10 in staging is older" in err
    assert (fleet / "Pulumi.prod.yaml").read_text() == before


def test_a_source_environment_whose_clusters_differ_is_refused(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An environment halfway through a rollout: which of its versions has run everywhere?"""
    shutil.copy(fleet / "Pulumi.prod-b.yaml", fleet / "Pulumi.staging-b.yaml")
    set_line(
        fleet / "Pulumi.staging-b.yaml",
        "  talos-platform:environment: prod\n",
        "  talos-platform:environment: staging\n  talos-platform:talos_version: v1.13.10\n",
    )
    before = (fleet / "Pulumi.prod.yaml").read_text()
    assert promote(fleet, "--from", "staging", "--to", "prod") == 1
    err = capsys.readouterr().err
    assert (
        "error: the stacks of staging differ in talos-platform:talos_version "
        "(Pulumi.staging.yaml v1.13.9, Pulumi.staging-b.yaml v1.13.10)" in err
    )
    assert (fleet / "Pulumi.prod.yaml").read_text() == before
    # Once both run it, the promotion goes through, to prod and prod-b.
    pin(fleet, "staging", "talos_version", "v1.13.10")
    assert promote(fleet, "--from", "staging", "--to", "prod") == 0
    assert "Pulumi.prod.yaml, Pulumi.prod-b.yaml" in capsys.readouterr().out
