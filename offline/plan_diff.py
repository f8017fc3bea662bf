"""What changed between two offline plans: the model (created, deleted, replaced, updated) and
the comparison, as the engine and each provider would decide it (`offline/replacement.py`), and the
reading of plan files. `offline/diff.py` renders it and is the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .replacement import Rules, ignored, is_downgrade, load_rules, matches

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_PROTECTED = 0, 1, 2, 3
SECRET = "[secret]"
SECRET_CHANGED = "[secret, changed]"

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
    protect: bool = False
    retain_on_delete: bool = False
    """Deleted from the stack only (forgotten), not from the provider."""


UPDATE, REPLACE = "update", "replace"


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    changes: list[ValueChange] = field(default_factory=list)
    operation: str = UPDATE
    """`update` in place or `replace` (delete and create)."""
    reasons: list[str] = field(default_factory=list)
    """Why it is replaced: each input and the rule (with its upstream source) that replaces."""
    possible_reasons: list[str] = field(default_factory=list)
    """Conditional provider rules that may replace it (the condition is in the reason)."""
    delete_before_replace: bool = False
    protect: bool = False
    retain_on_delete: bool = False
    """The resource being replaced is forgotten, not deleted (`retain_on_delete`)."""
    ignored: list[str] = field(default_factory=list)
    """Changed inputs that `ignore_changes` keeps from the provider."""
    dependencies_added: list[str] = field(default_factory=list)
    dependencies_removed: list[str] = field(default_factory=list)

    @property
    def replaced(self) -> bool:
        return self.operation == REPLACE


@dataclass
class PlanDiff:
    old_stack: str
    new_stack: str
    created: list[ResourceRef]
    deleted: list[ResourceRef]
    changed: list[ResourceChange]
    unchanged: int
    """Resources with nothing to send to their provider (dependencies alone may have changed)."""
    outputs: list[ValueChange]
    invokes: list[ValueChange]
    """Provider calls (invokes) by function token. Calls made alike by both plans are set aside
    first; the rest are paired in order: `token[0].workerNodes` for a call that changed,
    `token[0]` for a call only one plan makes (indexes count the differing calls only)."""

    @property
    def empty(self) -> bool:
        return not (self.created or self.deleted or self.changed or self.outputs or self.invokes)

    @property
    def replaced(self) -> list[ResourceChange]:
        return [c for c in self.changed if c.replaced]

    @property
    def updated(self) -> list[ResourceChange]:
        return [c for c in self.changed if not c.replaced]

    def protected_losses(self) -> list[str]:
        """Protected resources this change would replace or delete: `pulumi up` refuses both."""
        lost = [f"{c.type} {c.name} would be replaced" for c in self.replaced if c.protect]
        lost += [f"{r.type} {r.name} would be deleted" for r in self.deleted if r.protect]
        return lost

    def summary(self) -> str:
        stacks = (
            self.new_stack
            if self.old_stack == self.new_stack
            else f"{self.old_stack} -> {self.new_stack}"
        )
        return (
            f"{stacks}: {len(self.replaced)} to replace, {len(self.created)} to create, "
            f"{len(self.deleted)} to delete, {len(self.updated)} to update, "
            f"{self.unchanged} unchanged; "
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
    """The resources the stack manages, by URN. A read resource (`read`: an edge stack's
    StackReference) is left out: the engine only reads it, and reading another stack, or no
    longer reading it, creates, changes or deletes nothing."""
    return {r["urn"]: r for r in doc["resources"] if not r.get("read")}


def _ref(entry: Document) -> ResourceRef:
    return ResourceRef(
        entry["urn"],
        entry["type"],
        entry["name"],
        bool(entry.get("protect")),
        bool(entry.get("retain_on_delete")),
    )


def _input_path(change: ValueChange) -> str:
    return change.path.removeprefix("inputs.")


def _classify(change: ResourceChange, old: Document, new: Document, rules: Rules) -> None:
    """Set `operation` and its reasons, as the engine would decide (module docstring)."""
    for value in change.changes:
        if not value.path.startswith("inputs."):
            continue
        path = _input_path(value)
        for rule in rules.for_type(new["type"]):
            if not matches(rule.input, path):
                continue
            if rule.when == "downgrade" and not is_downgrade(value.old, value.new):
                continue
            reason = f"{path}: the provider replaces on `{rule.input}` ({rule.cites()})"
            if rule.when == "conditional":
                change.possible_reasons.append(f"{reason}, when {rule.note or 'a condition holds'}")
            else:
                change.reasons.append(reason)
        for pattern in new.get("replace_on_changes") or []:
            if pattern == "*" or matches(pattern, path):
                change.reasons.append(f"{path}: `replace_on_changes` names `{pattern}`")
    if old.get("replacement_trigger") != new.get("replacement_trigger"):
        change.reasons.append("`replacement_trigger` changed")
    if change.reasons:
        change.operation = REPLACE


def _resource_change(old: Document, new: Document, rules: Rules) -> ResourceChange | None:
    change = ResourceChange(
        new["urn"],
        new["type"],
        new["name"],
        delete_before_replace=bool(new.get("delete_before_replace")),
        protect=bool(old.get("protect")),
        # The engine reads it from the state of the one it deletes: the old plan's.
        retain_on_delete=bool(old.get("retain_on_delete")),
    )
    ignore = list(new.get("ignore_changes") or [])
    for value in value_changes(old.get("inputs", {}), new.get("inputs", {}), "inputs"):
        if ignored(_input_path(value), ignore):
            change.ignored.append(_input_path(value))
        else:
            change.changes.append(value)
    for key in ("protect", "retain_on_delete"):  # a plan from before a key was recorded: False
        if bool(old.get(key)) != bool(new.get(key)):
            change.changes.append(ValueChange(key, bool(old.get(key)), bool(new.get(key))))
    for key in ("provider", "parent", "replacement_trigger"):
        if old.get(key) != new.get(key):
            change.changes.append(ValueChange(key, old.get(key), new.get(key)))
    before = set(old.get("secret_inputs") or [])
    after = set(new.get("secret_inputs") or [])
    if before != after:
        change.changes.append(ValueChange("secret_inputs", sorted(before), sorted(after)))
    # A secret whose value changed: `[secret]` on both sides, told apart by its digest.
    old_digests, new_digests = old.get("secret_digests") or {}, new.get("secret_digests") or {}
    for path in sorted(before & after):
        if path in old_digests and path in new_digests and old_digests[path] != new_digests[path]:
            if ignored(path, ignore):
                change.ignored.append(path)
            else:
                change.changes.append(ValueChange(f"inputs.{path}", SECRET, SECRET_CHANGED))
    old_deps, new_deps = set(old.get("dependencies") or []), set(new.get("dependencies") or [])
    change.dependencies_added = sorted(new_deps - old_deps)
    change.dependencies_removed = sorted(old_deps - new_deps)
    _classify(change, old, new, rules)
    # A change of dependencies alone sends nothing to the provider: not a change.
    return change if change.changes else None


def _replace_with(changed: dict[str, ResourceChange], after: dict[str, Document]) -> None:
    """Replace each resource `replace_with` a replaced one, until nothing more is replaced."""
    grew = True
    while grew:
        grew = False
        for urn, entry in after.items():
            for other in entry.get("replace_with") or []:
                if other in changed and changed[other].replaced:
                    if urn not in changed:
                        changed[urn] = ResourceChange(
                            urn,
                            entry["type"],
                            entry["name"],
                            delete_before_replace=bool(entry.get("delete_before_replace")),
                            protect=bool(entry.get("protect")),
                        )
                    mine = changed[urn]
                    reason = f"`replace_with` {changed[other].name}, which is replaced"
                    if reason not in mine.reasons:
                        mine.reasons.append(reason)
                        mine.operation = REPLACE
                        grew = True


def diff_plans(old: Document, new: Document, rules: Rules | None = None) -> PlanDiff:
    """The difference from plan `old` to plan `new` (both plan documents)."""
    rules = rules if rules is not None else load_rules()
    before, after = _index(old), _moved(_index(old), _index(new))
    changed: dict[str, ResourceChange] = {}
    for urn in after.keys() & before.keys():
        change = _resource_change(before[urn], after[urn], rules)
        if change is not None:
            changed[urn] = change
    _replace_with(changed, {u: e for u, e in after.items() if u in before})
    calls_old, calls_new = _calls(old), _calls(new)
    invokes: list[ValueChange] = []
    for token in sorted(calls_old.keys() | calls_new.keys()):
        before_calls, after_calls = _unmatched(calls_old.get(token, []), calls_new.get(token, []))
        invokes += value_changes(before_calls, after_calls, token)
    return PlanDiff(
        old_stack=str(old.get("stack", "")),
        new_stack=str(new.get("stack", "")),
        created=sorted((_ref(after[u]) for u in after.keys() - before.keys()), key=_order),
        deleted=sorted((_ref(before[u]) for u in before.keys() - after.keys()), key=_order),
        changed=sorted(changed.values(), key=_order),
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


def _urn_parts(urn: str) -> tuple[str, str, str]:
    """(`urn:pulumi:<stack>::<project>`, qualified type, name)."""
    prefix, project, kind, name = urn.split("::", 3)
    return f"{prefix}::{project}", kind, name


def _moved(before: dict[str, Document], after: dict[str, Document]) -> dict[str, Document]:
    """`after` keyed by the URN each resource had in `before` when it moved under an alias, as
    the engine pairs them (children inherit their parent's alias: pulumi
    `pkg/resource/deploy/step_generator.go`, generateAliases). A moved resource keeps its
    state: only its inputs can change it."""
    old_urn: dict[str, str] = {}
    for urn, entry in after.items():
        if urn in before:
            continue
        found = next(
            (a for a in entry.get("aliases") or [] if a in before and a not in after), None
        )
        if found:
            old_urn[urn] = found
    grew = True
    while grew:  # children of moved parents, parents first
        grew = False
        for urn, entry in after.items():
            parent = entry.get("parent") or ""
            if urn in old_urn or parent not in old_urn:
                continue
            head, kind, name = _urn_parts(urn)
            child_type = kind.rsplit("$", 1)[-1]
            candidate = f"{head}::{_urn_parts(old_urn[parent])[1]}${child_type}::{name}"
            if candidate in before and candidate not in after:
                old_urn[urn] = candidate
                grew = True
    out = {}
    for urn, entry in after.items():
        if urn in old_urn:
            moved_from = before[old_urn[urn]]
            # Parent and URN come from the move, not from a change to send to the provider.
            entry = {**entry, "urn": old_urn[urn], "parent": moved_from.get("parent")}
            out[old_urn[urn]] = entry
        else:
            out[urn] = entry
    return out


def _unmatched(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any]]:
    """The calls of each side without those the other side makes alike (a new node's config
    does not shift every call after it)."""
    remaining = list(new)
    left = []
    for call in old:
        if call in remaining:
            remaining.remove(call)
        else:
            left.append(call)
    return left, remaining


def _order(item: ResourceRef | ResourceChange) -> tuple[str, str]:
    return item.type, item.name


# --- Reading plan files ------------------------------------------------------------------------


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
