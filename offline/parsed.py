"""Large YAML files the checks read on every run (the Argo CD CRDs are 1.8 MB), parsed once
per content: libyaml parses, and a JSON copy named by the file's SHA-256 in a cache folder
serves the next runs (JSON loads ~50 times faster). A changed file has another digest, so a
stale copy is never read; a cache that cannot be written is simply not used."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader (PyYAML's wheels ship it), else the pure-Python one."""


def cache_dir() -> Path:
    """`<venv>/.cache/talos-platform/parsed` inside a venv, else under `$XDG_CACHE_HOME`."""
    if sys.prefix != sys.base_prefix:
        root = Path(sys.prefix) / ".cache" / "talos-platform"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "talos-platform"
    return root / "parsed"


def cached(data: bytes, produce: Callable[[], Any], kind: str = "yaml") -> Any:
    """`produce()`, which parses `data` into the shape `kind` names, or its JSON copy from an
    earlier run."""
    # The name carries what the parse depends on: the content, the shape, PyYAML, this format.
    tag = f"{kind}-v1-pyyaml{yaml.__version__}"
    copy = cache_dir() / f"{hashlib.sha256(data).hexdigest()}-{tag}.json"
    try:
        return json.loads(copy.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    result = produce()
    try:
        text = json.dumps(result)
        # Only what JSON gives back unchanged (no integer keys, dates, sets ...): otherwise a
        # first run and the next ones would read different data.
        if json.loads(text) == result:
            copy.parent.mkdir(parents=True, exist_ok=True)
            partial = copy.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text, encoding="utf-8")
            partial.replace(copy)
    except (OSError, TypeError, ValueError):
        pass  # read-only, or a value JSON cannot hold: parse again next time
    return result


@lru_cache(maxsize=64)
def load_all(path: Path) -> tuple[Any, ...]:
    """Every YAML document of `path` (do not modify them: they are shared in the process)."""
    data = path.read_bytes()
    return tuple(cached(data, lambda: list(yaml.load_all(data.decode("utf-8"), Loader=LOADER))))


def load(path: Path) -> Any:
    """The single YAML document of `path`."""
    documents = load_all(path)
    return documents[0] if documents else None
