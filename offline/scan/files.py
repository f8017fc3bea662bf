"""Writing the stacks' objects as files, one YAML document per file, for file-based scanners.

Each object goes to `<namespace>/<Kind>-<name>.yaml` (`_cluster/` for a cluster-scoped one).
An object that every stack given renders alike is written once; one whose content differs
between stacks is written once per distinct content, its stacks in the name
(`Deployment-podinfo.dev+staging.yaml`). A comment at the top says where it comes from, so a
finding on a file leads back to the values or template that made it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .objects import StackObject

CLUSTER_DIR = "_cluster"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Variant:
    manifest: dict[str, Any]
    stacks: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def identity(manifest: dict[str, Any]) -> tuple[str, str, str]:
    """(namespace or "", kind, name): what names an object in a cluster."""
    metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    return (
        str(metadata.get("namespace") or ""),
        str(manifest.get("kind") or "Unknown"),
        str(metadata.get("name") or "unnamed"),
    )


def group(by_stack: dict[str, list[StackObject]]) -> dict[tuple[str, str, str], list[Variant]]:
    """Each object identity -> its distinct contents, with the stacks and sources of each."""
    found: dict[tuple[str, str, str], dict[str, Variant]] = {}
    for stack, objects in by_stack.items():
        for obj in objects:
            content = json.dumps(obj.manifest, sort_keys=True, default=str)
            variant = found.setdefault(identity(obj.manifest), {}).setdefault(
                content, Variant(obj.manifest)
            )
            if stack not in variant.stacks:
                variant.stacks.append(stack)
            if obj.source not in variant.sources:
                variant.sources.append(obj.source)
    return {key: list(variants.values()) for key, variants in sorted(found.items())}


def file_name(key: tuple[str, str, str], variant: Variant, alone: bool) -> str:
    namespace, kind, name = (_UNSAFE.sub("_", part) for part in key)
    suffix = "" if alone else "." + "+".join(variant.stacks)
    return f"{namespace or CLUSTER_DIR}/{kind}-{name}{suffix}.yaml"


def write(
    by_stack: dict[str, list[StackObject]],
    out: Path,
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[Path]:
    """Write every object of the stacks under `out` (created; files already there are kept
    unless overwritten), each through `transform` if given; the paths written, relative to
    `out`."""
    written = []
    for key, variants in group(by_stack).items():
        for variant in variants:
            relative = Path(file_name(key, variant, len(variants) == 1))
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            header = (
                f"# stacks: {', '.join(variant.stacks)}\n# source: {'; '.join(variant.sources)}\n"
            )
            manifest = transform(variant.manifest) if transform else variant.manifest
            body = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
            target.write_text(header + body)
            written.append(relative)
    return written
