"""Which input changes make a provider replace a resource instead of updating it.

The rules live in `upstream/provider-rules/replacements.yaml`, one entry per input that the
provider's own source marks as a replace trigger (Terraform `ForceNew`, `RequiresReplace` plan
modifiers, pulumi-kubernetes' and pulumi-command's diff logic), each with its upstream file and
line.
`offline.diff` classifies each changed resource with them, and with the resource's own options
(`ignore_changes`, `replace_on_changes`, `replacement_trigger`, `replace_with`), as the engine
would:

- an input listed in `ignore_changes` is not a change at all;
- a change of an input the provider replaces on (or of one named in `replace_on_changes`, or of
  the `replacement_trigger`) replaces the resource; `when: downgrade` replaces only when the new
  version is lower (the talos provider's rule for `talos_machine_secrets`, where `v1.13` reads as
  v1.13.0); `when: conditional` is reported as a possible replacement, with the rule's note;
- a resource `replace_with` another is replaced when that one is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .paths import REPO_ROOT

RULES_FILE = REPO_ROOT / "upstream" / "provider-rules" / "replacements.yaml"
WHEN = ("always", "downgrade", "conditional")


class RulesError(Exception):
    """The rules file is missing or malformed."""


@dataclass(frozen=True)
class Rule:
    input: str
    """A path in the plan's inputs: dotted camelCase, `[*]` for any list item."""
    when: str
    source: str
    provider: str
    note: str = ""

    def cites(self) -> str:
        return f"{self.provider}: {self.source}"


@dataclass(frozen=True)
class Rules:
    by_type: dict[str, tuple[Rule, ...]]
    """Resource type (or a `prefix:*` pattern) -> its replace rules."""

    def for_type(self, resource_type: str) -> tuple[Rule, ...]:
        rules = list(self.by_type.get(resource_type, ()))
        for pattern, more in self.by_type.items():
            if pattern.endswith("*") and resource_type.startswith(pattern[:-1]):
                rules += more
        return tuple(rules)


def parse_rules(data: Any, where: str) -> Rules:
    if not isinstance(data, dict) or not isinstance(data.get("resources"), dict):
        raise RulesError(f"{where}: expected a mapping with `resources`")
    by_type: dict[str, tuple[Rule, ...]] = {}
    for resource_type, spec in data["resources"].items():
        if not isinstance(spec, dict):
            raise RulesError(f"{where}: resources.{resource_type}: expected a mapping")
        rules = []
        for index, entry in enumerate(spec.get("replace") or []):
            at = f"{where}: resources.{resource_type}.replace[{index}]"
            if not isinstance(entry, dict) or not entry.get("input") or not entry.get("source"):
                raise RulesError(f"{at}: expected `input` and `source`")
            when = entry.get("when", "always")
            if when not in WHEN:
                raise RulesError(f"{at}: `when` is {when!r}, expected one of {', '.join(WHEN)}")
            rules.append(
                Rule(
                    input=str(entry["input"]),
                    when=when,
                    source=str(entry["source"]),
                    provider=str(spec.get("provider", "")),
                    note=str(entry.get("note", "")),
                )
            )
        by_type[str(resource_type)] = tuple(rules)
    return Rules(by_type)


@cache
def load_rules(path: Path = RULES_FILE) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot be read ({exc})") from exc
    return parse_rules(YAML(typ="safe").load(text), str(path.relative_to(REPO_ROOT)))


# --- Paths -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")


def path_parts(path: str) -> list[str]:
    """`disks[0].speed` -> ['disks', '0', 'speed']; `[*]` stays '*'."""
    return [name or index for name, index in _TOKEN.findall(path)]


def _matches(pattern: list[str], path: list[str]) -> bool:
    """Whether one path is the other or lies under it (a whole block that changed counts for a
    rule on one of its fields, and a field under a rule's block counts for the block)."""
    return all(p == "*" or q == "*" or p == q for p, q in zip(pattern, path, strict=False))


def matches(pattern: str, path: str) -> bool:
    return _matches(path_parts(pattern), path_parts(path))


def ignored(path: str, ignore_changes: list[str]) -> bool:
    """Whether `ignore_changes` covers `path`: the path is an ignored one or lies under it."""
    parts = path_parts(path)
    for pattern in ignore_changes:
        wanted = path_parts(pattern)
        if len(wanted) <= len(parts) and _matches(wanted, parts):
            return True
    return False


# --- Versions ----------------------------------------------------------------------------------

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$")


def version_key(value: Any) -> tuple[int, int, int] | None:
    """`v1.13` -> (1, 13, 0): a missing part reads as 0, as in Go's semver.Compare."""
    match = _VERSION.match(str(value)) if isinstance(value, str) else None
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def is_downgrade(old: Any, new: Any) -> bool:
    before, after = version_key(old), version_key(new)
    if before is None or after is None:
        return old != new  # not versions: any change may be a downgrade
    return after < before
