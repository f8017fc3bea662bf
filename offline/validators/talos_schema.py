"""Check Talos machine-configuration documents against the upstream Talos v1.13 JSON schema.

The schema and generated base configs are vendored in `upstream/talos/v1.13/` (pinned to Talos
v1.13.9, see upstream/README.md): `schema_dir()` is that folder.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from .. import parsed
from ..paths import TALOS_SCHEMA_DIR


def schema_dir() -> Path:
    """`upstream/talos/v1.13`: `config.schema.json` and the generated base configs."""
    return TALOS_SCHEMA_DIR


@dataclass(frozen=True)
class DocumentProblem:
    node: str
    kind: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"node {self.node}: {self.kind} at {self.path or '(document)'}: {self.message}"


@cache
def _schema(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "config.schema.json").read_text(encoding="utf-8"))


@cache
def _validators(directory: Path) -> dict[str, jsonschema.protocols.Validator]:
    """One validator per document kind, each against its own `$def` (clearer than the oneOf)."""
    schema = _schema(directory)
    cls = jsonschema.validators.validator_for(schema)
    out = {}
    for definition in schema["$defs"].values():
        kinds = definition.get("properties", {}).get("kind", {}).get("enum", [])
        for kind in kinds:
            out[kind] = cls({**definition, "$defs": schema["$defs"]})
    out["v1alpha1"] = cls({**schema["$defs"]["v1alpha1.Config"], "$defs": schema["$defs"]})
    return out


def kind_of(document: dict[str, Any]) -> str:
    return str(document.get("kind") or document.get("version") or "unknown")


def base_documents(directory: Path, machine_type: str) -> list[dict[str, Any]]:
    name = "base-controlplane.yaml" if machine_type == "controlplane" else "base-worker.yaml"
    # Fresh copies: callers merge patches into them.
    return [copy.deepcopy(d) for d in parsed.load_all(directory / name) if d]


def deep_merge(base: Any, patch: Any) -> Any:
    """Merge a patch into a document the way Talos merges maps (lists from the patch are
    appended, maps merged key by key, scalars replaced)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = deep_merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list):
        return [*base, *(p for p in patch if p not in base)]
    return copy.deepcopy(patch)


def full_configuration(
    directory: Path, machine_type: str, patches: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The generated base with the node's patches in: same-kind documents replace the base's."""
    docs = base_documents(directory, machine_type)
    main = docs[0]
    main.get("machine", {}).get("install", {}).pop("persist", None)
    main.pop("persist", None)
    others = [d for d in docs[1:]]
    for patch in patches:
        if "kind" not in patch:
            main = deep_merge(main, patch)
            continue
        others = [
            d
            for d in others
            if not (d.get("kind") == patch["kind"] and d.get("name") == patch.get("name"))
        ]
        others.append(patch)
    return [main, *others]


def validate_documents(
    directory: Path, node: str, documents: list[dict[str, Any]]
) -> list[DocumentProblem]:
    validators = _validators(directory)
    problems = []
    for document in documents:
        kind = kind_of(document)
        validator = validators.get(kind)
        if validator is None:
            problems.append(DocumentProblem(node, kind, "", "unknown document kind"))
            continue
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.absolute_path)
            problems.append(DocumentProblem(node, kind, path, error.message))
    return problems
