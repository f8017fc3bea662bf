"""The parse cache of large YAML files: the same data on the first run and every later one."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import parsed


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(parsed, "cache_dir", lambda: tmp_path / "cache")
    parsed.load_all.cache_clear()
    yield tmp_path / "cache"
    parsed.load_all.cache_clear()


def test_a_file_reads_the_same_parsed_or_cached(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "crd.yaml"
    source.write_text("kind: CustomResourceDefinition\nspec: {versions: [{name: v1}]}\n---\nb: 2\n")
    first = parsed.load_all(source)
    assert len(list(cache.glob("*.json"))) == 1
    parsed.load_all.cache_clear()
    assert parsed.load_all(source) == first
    source.write_text("a: 3\n")  # new content, new digest: never the stale copy
    parsed.load_all.cache_clear()
    assert parsed.load_all(source) == ({"a": 3},)


def test_what_json_would_change_is_not_cached(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "odd.yaml"
    source.write_text("1: integer key\nwhen: 2026-11-26\n")
    documents = parsed.load_all(source)
    assert 1 in documents[0]
    assert not cache.exists() or not list(cache.glob("*.json"))
