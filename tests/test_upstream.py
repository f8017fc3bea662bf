"""upstream/: the provenance table in its README lists every vendored file, `refresh.py` pins the
same sources as the table, and what is vendored is consistent (CRDs from the chart, the redis-ha
subchart the argo-cd chart asks for)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import shutil
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from offline.paths import ARGOCD_CHART_DIR, ARGOCD_CRDS_DIR, TALOS_SCHEMA_DIR, UPSTREAM_DIR

HEADER = ["path", "what", "upstream repo", "tag", "commit", "upstream path", "licence"]
#: Written for this project, not vendored: the README's own table and the refresh script.
NOT_VENDORED = {"refresh.py"}


def _load_refresh() -> ModuleType:
    spec = importlib.util.spec_from_file_location("upstream_refresh", UPSTREAM_DIR / "refresh.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ inside upstream/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


refresh = _load_refresh()


def _cell(text: str) -> str:
    return text.strip().strip("`")


def provenance() -> dict[str, dict[str, str]]:
    """The README's provenance table: path -> column -> value (backticks removed)."""
    lines = (UPSTREAM_DIR / "README.md").read_text().splitlines()
    start = next(
        i for i, line in enumerate(lines) if [_cell(c) for c in line.split("|")[1:-1]] == HEADER
    )
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [_cell(c) for c in line.split("|")[1:-1]]
        assert len(cells) == len(HEADER), line
        row = dict(zip(HEADER, cells, strict=True))
        assert row["path"] not in rows, f"{row['path']} listed twice"
        rows[row["path"]] = row
    return rows


def vendored_files() -> list[str]:
    out = []
    for path in sorted(UPSTREAM_DIR.rglob("*")):
        relative = path.relative_to(UPSTREAM_DIR)
        if not path.is_file() or "__pycache__" in relative.parts:
            continue
        if path.name.startswith(("README", "LICENSE")) or relative.as_posix() in NOT_VENDORED:
            continue
        out.append(relative.as_posix())
    return out


def test_every_vendored_file_is_in_the_provenance_table() -> None:
    rows = provenance()
    folders = [p for p in rows if p.endswith("/")]
    unlisted = [
        name
        for name in vendored_files()
        if name not in rows and not any(name.startswith(folder) for folder in folders)
    ]
    assert unlisted == []


def test_every_row_of_the_table_exists() -> None:
    for path in provenance():
        target = UPSTREAM_DIR / path
        assert target.is_dir() if path.endswith("/") else target.is_file(), path


def test_refresh_pins_what_the_table_says() -> None:
    rows = provenance()
    hand_written = {p for p, row in rows.items() if row["tag"] == "—"}
    assert hand_written == {"provider-rules/"}
    assert {item.path for item in refresh.ITEMS} == rows.keys() - hand_written
    for item in refresh.ITEMS:
        row = rows[item.path]
        if isinstance(item.source, refresh.ArchiveSource):
            assert f"sha256 `{item.source.sha256}`" in row["what"], item.path
            assert f"{item.source.built_from_repo} `{item.source.built_from}`" in row["what"]
        pinned = {
            "upstream repo": item.source.repo,
            "tag": item.source.tag,
            "commit": item.source.commit,
            "upstream path": item.upstream_path,
            "licence": item.source.licence,
        }
        assert {key: row[key] for key in pinned} == pinned, item.path


def test_pins_are_full_commits() -> None:
    for source in refresh.SOURCES:
        assert len(source.commit) == 40 and int(source.commit, 16) >= 0, source
        if isinstance(source, refresh.ArchiveSource):
            assert len(source.built_from) == 40 and int(source.built_from, 16) >= 0, source
            assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0, source


def test_each_source_has_its_licence_beside_what_is_vendored() -> None:
    licences = dict(refresh.LICENSES)
    for path, source in licences.items():
        text = (UPSTREAM_DIR / path).read_text()
        expected = {
            "Apache-2.0": "Apache License",
            "MPL-2.0": "Mozilla Public License",
            "MIT": "Permission is hereby granted, free of charge",
        }
        assert expected[source.licence] in text[:200], path
    for item in refresh.ITEMS:
        folder = item.path if item.path.endswith("/") else item.path.rsplit("/", 1)[0] + "/"
        covering = [p for p, s in licences.items() if s == item.source]
        assert any(folder.startswith(p.removesuffix("LICENSE")) for p in covering), item.path


def test_crds_are_the_charts_templates_without_helm_lines() -> None:
    for crd in sorted(ARGOCD_CRDS_DIR.glob("*.yaml")):
        template = ARGOCD_CHART_DIR / "templates" / "crds" / f"crd-{crd.name}"
        assert crd.read_bytes() == refresh.strip_helm_template_lines(template.read_bytes())
    assert len(list(ARGOCD_CRDS_DIR.glob("*.yaml"))) == 3


def test_the_unpacked_redis_ha_is_the_version_the_chart_asks_for() -> None:
    refresh.check_consistency(UPSTREAM_DIR)


def test_consistency_check_catches_a_wrong_subchart(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "argo-cd"
    (chart / "charts" / "redis-ha").mkdir(parents=True)
    for name in ("Chart.yaml", "Chart.lock"):
        (chart / name).write_bytes((ARGOCD_CHART_DIR / name).read_bytes())
    (chart / "charts" / "redis-ha" / "Chart.yaml").write_text("name: redis-ha\nversion: 4.39.0\n")
    with pytest.raises(refresh.RefreshError, match=r"vendored subchart is 4\.39\.0"):
        refresh.check_consistency(tmp_path)


def test_talos_data_is_in_place() -> None:
    names = sorted(p.name for p in TALOS_SCHEMA_DIR.iterdir())
    assert names == ["base-controlplane.yaml", "base-worker.yaml", "config.schema.json", "crds"]
    assert sorted(p.name for p in (TALOS_SCHEMA_DIR / "crds").iterdir()) == ["serviceaccount.yaml"]


def test_unpacked_chart_archives_are_the_pinned_version() -> None:
    for item in refresh.ITEMS:
        if isinstance(item.source, refresh.ArchiveSource):
            chart = yaml.safe_load((UPSTREAM_DIR / item.path / "Chart.yaml").read_text())
            assert f"{chart['name']}-{chart['version']}.tgz" == item.source.archive, item.path
            assert (UPSTREAM_DIR / item.path / "values.schema.json").is_file()


def _tgz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _archive_source(data: bytes) -> Any:
    return dataclasses.replace(refresh.CILIUM_CHARTS, sha256=hashlib.sha256(data).hexdigest())


def test_unpack_chart_archive(tmp_path: Path) -> None:
    chart = f"name: cilium\nversion: {refresh.CILIUM_CHARTS.archive[7:-4]}\n".encode()
    data = _tgz({"cilium/Chart.yaml": chart, "cilium/templates/a.yaml": b"a: 1\n"})
    refresh.unpack_chart_archive(_archive_source(data), data, tmp_path / "out")
    assert (tmp_path / "out" / "templates" / "a.yaml").read_bytes() == b"a: 1\n"
    assert (tmp_path / "out" / "Chart.yaml").read_bytes() == chart


def test_unpack_chart_archive_rejects_a_wrong_hash_or_content(tmp_path: Path) -> None:
    data = _tgz({"cilium/Chart.yaml": b"name: cilium\nversion: 0.0.1\n"})
    with pytest.raises(refresh.RefreshError, match="SHA-256"):
        refresh.unpack_chart_archive(refresh.CILIUM_CHARTS, data, tmp_path / "a")
    with pytest.raises(refresh.RefreshError, match=r"Chart\.yaml is not cilium"):
        refresh.unpack_chart_archive(_archive_source(data), data, tmp_path / "b")
    escaping = _tgz({"cilium/../evil": b"x"})
    with pytest.raises(refresh.RefreshError, match="not a plain file"):
        refresh.unpack_chart_archive(_archive_source(escaping), escaping, tmp_path / "c")
    assert not (tmp_path / "evil").exists()


def test_stamped_charts_say_the_version_their_release_job_publishes() -> None:
    """kubelet-csr-approver's Chart.yaml says 0.0.1-dummy in Git; refresh.py stamps the published
    version (the tag without its `v`) and app version (the tag), and the table says so."""
    stamped = [item for item in refresh.ITEMS if item.stamp is not None]
    assert [item.path for item in stamped] == ["charts/kubelet-csr-approver/"]
    for item in stamped:
        assert item.stamp is not None and isinstance(item.source, refresh.Source)
        assert item.stamp.app_version == item.source.tag
        assert item.stamp.version == item.source.tag.removeprefix("v")
        chart = yaml.safe_load((UPSTREAM_DIR / item.path / "Chart.yaml").read_text())
        assert (chart["version"], chart["appVersion"]) == (
            item.stamp.version,
            item.stamp.app_version,
        )
        what = provenance()[item.path]["what"]
        assert f"version: {item.stamp.version}" in what and item.stamp.placeholder in what


def test_stamp_chart_replaces_the_placeholders_or_refuses() -> None:
    stamp = refresh.KUBELET_CSR_APPROVER_STAMP
    text = b"apiVersion: v2\nname: x\nappVersion: v0.0.1-dummy\nversion: 0.0.1-dummy\nkeep: 1\n"
    assert refresh.stamp_chart(text, stamp) == (
        b"apiVersion: v2\nname: x\nappVersion: v1.2.14\nversion: 1.2.14\nkeep: 1\n"
    )
    with pytest.raises(refresh.RefreshError, match=r"expected one `version: 0\.0\.1-dummy` line"):
        refresh.stamp_chart(b"version: 1.2.15\nappVersion: v0.0.1-dummy\n", stamp)


def test_kube_prometheus_stacks_dependencies_are_the_versions_its_chart_allows(
    tmp_path: Path,
) -> None:
    """kube-prometheus-stack has no Chart.lock in Git: each unpacked dependency must be a version
    its Chart.yaml allows (`0.12.*` for the Windows exporter), and Helm needs every one of them,
    enabled or not."""
    chart = UPSTREAM_DIR / "charts" / "kube-prometheus-stack"
    assert not (chart / "Chart.lock").exists()
    wanted = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
    names = sorted(d["name"] for d in wanted)
    assert names == sorted(p.name for p in (chart / "charts").iterdir())
    assert refresh._allows("0.12.*", "0.12.8") and refresh._allows("8.4.0", "8.4.0")
    assert not refresh._allows("0.12.*", "0.13.0") and not refresh._allows("8.4.0", "8.4.1")
    with pytest.raises(refresh.RefreshError, match="not understood"):
        refresh._allows("^8.4.0", "8.4.0")
    # A wrong one is refused, naming it.
    argo = tmp_path / "charts" / "argo-cd"
    shutil.copytree(ARGOCD_CHART_DIR, argo)
    copied = tmp_path / "charts" / "kube-prometheus-stack"
    (copied / "charts").mkdir(parents=True)
    shutil.copy(chart / "Chart.yaml", copied / "Chart.yaml")
    for name in names:
        (copied / "charts" / name).mkdir()
        shutil.copy(chart / "charts" / name / "Chart.yaml", copied / "charts" / name)
    refresh.check_consistency(tmp_path)
    (copied / "charts" / "grafana" / "Chart.yaml").write_text("name: grafana\nversion: 12.11.2\n")
    with pytest.raises(refresh.RefreshError, match=r"grafana 12\.11\.1 \(no Chart\.lock\), but"):
        refresh.check_consistency(tmp_path)


def test_no_gitignore_nor_maintainer_scripts_are_vendored() -> None:
    """A chart's .gitignore would apply to this repository (kube-prometheus-stack's ignores the
    dependencies vendored in its charts/), and its hack/ scripts are no part of the chart."""
    assert not list(UPSTREAM_DIR.rglob(".gitignore"))
    assert not (UPSTREAM_DIR / "charts" / "kube-prometheus-stack" / "hack").exists()
    assert not [p for p in UPSTREAM_DIR.rglob("*.py") if p.name != "refresh.py"]
