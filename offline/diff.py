"""What changes between two offline plans (`python -m offline.plan --format json`).

    python -m offline.diff OLD.json NEW.json [--format text|markdown|json]

Resources are matched by URN: created, deleted, or changed (which inputs, with old and new
values; `protect`, provider, parent and dependencies too). Stack outputs and the count of each
provider call are compared as well. Secret values are `[secret]` on both sides of a plan, so a
changed secret value cannot be seen; a value that became (or stopped being) secret is shown.

Exit status: 0 the diff was printed (changes or not); 1 a file is not a plan document; 2 a usage
error or a missing/unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
SECRET = "[secret]"

Document = dict[str, Any]


class _Absent:
    """A value that is not there at all (as opposed to null)."""

    def __repr__(self) -> str:
        return "(absent)"

    def __copy__(self) -> _Absent:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Absent:
        return self


ABSENT: Any = _Absent()


class PlanFileError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ValueChange:
    path: str
    """Where, as `inputs.spec.replicas`, `protect`, `outputs.nodes.dev-worker-2`."""
    old: Any
    new: Any


@dataclass(frozen=True)
class ResourceRef:
    urn: str
    type: str
    name: str


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    changes: list[ValueChange] = field(default_factory=list)
    dependencies_added: list[str] = field(default_factory=list)
    dependencies_removed: list[str] = field(default_factory=list)


@dataclass
class PlanDiff:
    old_stack: str
    new_stack: str
    created: list[ResourceRef]
    deleted: list[ResourceRef]
    changed: list[ResourceChange]
    unchanged: int
    outputs: list[ValueChange]
    invokes: list[ValueChange]
    """Provider calls (invokes) by function token, paired in call order: `token[1].workerNodes`,
    or `token[2]` for a call made only by one plan."""

    @property
    def empty(self) -> bool:
        return not (self.created or self.deleted or self.changed or self.outputs or self.invokes)

    def summary(self) -> str:
        stacks = (
            self.new_stack
            if self.old_stack == self.new_stack
            else f"{self.old_stack} -> {self.new_stack}"
        )
        return (
            f"{stacks}: {len(self.created)} to create, {len(self.deleted)} to delete, "
            f"{len(self.changed)} to change, {self.unchanged} unchanged; "
            f"{len(self.outputs)} output value(s) and {len(self.invokes)} provider call "
            "argument(s) differ"
        )


# --- Comparing ---------------------------------------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def value_changes(old: Any, new: Any, path: str = "") -> list[ValueChange]:
    """Leaf differences between two JSON values; maps by key, lists by position."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[ValueChange] = []
        for key in sorted(set(old) | set(new)):
            out += value_changes(old.get(key, ABSENT), new.get(key, ABSENT), _join(path, key))
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for index in range(max(len(old), len(new))):
            a = old[index] if index < len(old) else ABSENT
            b = new[index] if index < len(new) else ABSENT
            out += value_changes(a, b, _join(path, index))
        return out
    if old == new:  # equal, including `[secret]` on both sides: cannot tell
        return []
    return [ValueChange(path, old, new)]


def _index(doc: Document) -> dict[str, Document]:
    return {r["urn"]: r for r in doc["resources"]}


def _ref(entry: Document) -> ResourceRef:
    return ResourceRef(entry["urn"], entry["type"], entry["name"])


def _resource_change(old: Document, new: Document) -> ResourceChange | None:
    change = ResourceChange(new["urn"], new["type"], new["name"])
    change.changes += value_changes(old.get("inputs", {}), new.get("inputs", {}), "inputs")
    for key in ("protect", "provider", "parent"):
        if old.get(key) != new.get(key):
            change.changes.append(ValueChange(key, old.get(key), new.get(key)))
    before = set(old.get("secret_inputs") or [])
    after = set(new.get("secret_inputs") or [])
    if before != after:
        change.changes.append(ValueChange("secret_inputs", sorted(before), sorted(after)))
    old_deps, new_deps = set(old.get("dependencies") or []), set(new.get("dependencies") or [])
    change.dependencies_added = sorted(new_deps - old_deps)
    change.dependencies_removed = sorted(old_deps - new_deps)
    if change.changes or change.dependencies_added or change.dependencies_removed:
        return change
    return None


def diff_plans(old: Document, new: Document) -> PlanDiff:
    """The difference from plan `old` to plan `new` (both plan documents)."""
    before, after = _index(old), _index(new)
    changed = []
    for urn in after.keys() & before.keys():
        change = _resource_change(before[urn], after[urn])
        if change is not None:
            changed.append(change)
    calls_old, calls_new = _calls(old), _calls(new)
    invokes: list[ValueChange] = []
    for token in sorted(calls_old.keys() | calls_new.keys()):
        invokes += value_changes(calls_old.get(token, []), calls_new.get(token, []), token)
    return PlanDiff(
        old_stack=str(old.get("stack", "")),
        new_stack=str(new.get("stack", "")),
        created=sorted((_ref(after[u]) for u in after.keys() - before.keys()), key=_order),
        deleted=sorted((_ref(before[u]) for u in before.keys() - after.keys()), key=_order),
        changed=sorted(changed, key=_order),
        unchanged=len(after.keys() & before.keys()) - len(changed),
        outputs=value_changes(old.get("outputs", {}), new.get("outputs", {}), "outputs"),
        invokes=invokes,
    )


def _calls(doc: Document) -> dict[str, list[Any]]:
    """Function token -> the arguments of each call, in the order the program made them."""
    calls: dict[str, list[Any]] = {}
    for invoke in doc.get("invokes", []):
        calls.setdefault(invoke["token"], []).append(invoke.get("args", {}))
    return calls


def _order(item: ResourceRef | ResourceChange) -> tuple[str, str]:
    return item.type, item.name


# --- Rendering ---------------------------------------------------------------------------------


SHOW_LIMIT = 200
"""Longer values are cut in text and Markdown (the JSON format keeps them whole)."""


def show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if value == SECRET:
        return SECRET
    text = json.dumps(value, sort_keys=True)
    if len(text) > SHOW_LIMIT:
        return f"{text[:SHOW_LIMIT]}... ({len(text)} characters)"
    return text


def _change_line(change: ValueChange) -> str:
    return f"{change.path}: {show(change.old)} -> {show(change.new)}"


def _resource_lines(change: ResourceChange) -> list[str]:
    lines = [_change_line(c) for c in change.changes]
    lines += [f"dependencies: + {urn}" for urn in change.dependencies_added]
    lines += [f"dependencies: - {urn}" for urn in change.dependencies_removed]
    return lines


def render_text(diff: PlanDiff) -> str:
    lines: list[str] = []
    for ref in diff.created:
        lines.append(f"+ {ref.type}  {ref.name}")
    for ref in diff.deleted:
        lines.append(f"- {ref.type}  {ref.name}")
    for change in diff.changed:
        lines.append(f"~ {change.type}  {change.name}")
        lines += [f"    {line}" for line in _resource_lines(change)]
    if diff.outputs:
        lines.append("~ stack outputs")
        lines += [f"    {_change_line(c)}" for c in diff.outputs]
    if diff.invokes:
        lines.append("~ provider calls")
        lines += [f"    {_change_line(c)}" for c in diff.invokes]
    if diff.empty:
        lines.append("no changes")
    lines.append(diff.summary())
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(diff: PlanDiff) -> str:
    lines = [f"**{_cell(diff.summary())}**", ""]
    if diff.empty:
        lines.append("No changes.")
        return "\n".join(lines) + "\n"
    if diff.created or diff.deleted or diff.changed:
        lines += ["| | type | name |", "|---|---|---|"]
        rows = [("create", r.type, r.name) for r in diff.created]
        rows += [("delete", r.type, r.name) for r in diff.deleted]
        rows += [("change", c.type, c.name) for c in diff.changed]
        lines += [f"| {op} | `{_cell(t)}` | `{_cell(n)}` |" for op, t, n in rows]
        lines.append("")
    details = [(f"{c.type.rsplit(':', 1)[-1]} {c.name}", _resource_lines(c)) for c in diff.changed]
    if diff.outputs:
        details.append(("stack outputs", [_change_line(c) for c in diff.outputs]))
    if diff.invokes:
        details.append(("provider calls", [_change_line(c) for c in diff.invokes]))
    for title, body in details:
        lines += [f"<details><summary>{title}</summary>", "", "```", *body, "```", "</details>"]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if value is ABSENT:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def render_json(diff: PlanDiff) -> str:
    data = _plain(asdict(diff))
    data["summary"] = diff.summary()
    return json.dumps(data, indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


# --- Command line ------------------------------------------------------------------------------


def load_plan(path: Path) -> Document:
    """A plan document from `path`; PlanFileError (exit 2 unreadable, 1 not a plan) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlanFileError(f"{path}: no such file", EXIT_USAGE) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"{path}: cannot be read ({exc})", EXIT_USAGE) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}: not JSON ({exc})", EXIT_INVALID) from exc
    problem = plan_problem(doc)
    if problem:
        raise PlanFileError(f"{path}: not a plan document: {problem}", EXIT_INVALID)
    return doc


def plan_problem(doc: Any) -> str | None:
    """What keeps `doc` from being a plan document, or None."""
    if not isinstance(doc, dict):
        return "expected a JSON object with `project`, `stack` and `resources`"
    missing = [k for k in ("project", "stack", "resources") if k not in doc]
    if missing:
        return "missing " + ", ".join(f"`{k}`" for k in missing)
    if not isinstance(doc["resources"], list):
        return "`resources` must be a list"
    for index, entry in enumerate(doc["resources"]):
        if not isinstance(entry, dict) or not {"urn", "type", "name"} <= set(entry):
            return f"resources[{index}]: expected an object with `urn`, `type` and `name`"
    if not isinstance(doc.get("outputs", {}), dict):
        return "`outputs` must be an object"
    invokes = doc.get("invokes", [])
    if not isinstance(invokes, list) or not all(
        isinstance(i, dict) and isinstance(i.get("token"), str) for i in invokes
    ):
        return "`invokes` must be a list of objects with a `token`"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline.diff",
        description="Compare two offline plans (python -m offline.plan --format json).",
    )
    parser.add_argument("old", type=Path, help="the plan before (for example of the base branch)")
    parser.add_argument("new", type=Path, help="the plan after (for example of the pull request)")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    args = parser.parse_args(argv)
    try:
        old, new = load_plan(args.old), load_plan(args.new)
    except PlanFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.stdout.write(RENDERERS[args.format](diff_plans(old, new)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
