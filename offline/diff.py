"""What changes between two offline plans (`python -m offline.plan --format json`).

    python -m offline.diff OLD.json NEW.json [--format text|markdown|json]

Resources are matched by URN: created, deleted, replaced or updated (which inputs, with old and
new values; `protect`, provider and parent too). Whether a change replaces the resource is decided
as the engine and the provider would (`offline/replacement.py`): inputs under `ignore_changes` do
not count, and an input the provider replaces on (`upstream/provider-rules/replacements.yaml`, with
the upstream line of each rule), a `replace_on_changes` input, a changed `replacement_trigger` or
the replacement of a `replace_with` resource replaces it. A resource whose dependencies alone
changed is not changed: nothing is sent to its provider. Replacements come first in every format.

Stack outputs and provider calls are compared as well. Secret values are `[secret]` on both sides
of a plan, so a changed secret value cannot be seen; a value that became (or stopped being)
secret is shown.

Exit status: 0 the diff was printed (changes or not); 1 a file is not a plan document; 2 a usage
error or a missing/unreadable file; 3 (with `--fail-on-protected`) a protected resource would be
replaced or deleted, which `pulumi up` refuses.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .plan_diff import (
    ABSENT,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_PROTECTED,
    EXIT_USAGE,
    SECRET,
    SECRET_CHANGED,
    PlanDiff,
    PlanFileError,
    ResourceChange,
    ResourceRef,
    ValueChange,
    diff_plans,
    load_plan,
    plan_problem,
    value_changes,
)

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_PROTECTED",
    "EXIT_USAGE",
    "RENDERERS",
    "PlanDiff",
    "PlanFileError",
    "diff_plans",
    "load_plan",
    "main",
    "plan_problem",
    "value_changes",
]


# --- Rendering ---------------------------------------------------------------------------------


SHOW_LIMIT = 200
"""Longer values are cut in text and Markdown (the JSON format keeps them whole)."""


def show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if value in (SECRET, SECRET_CHANGED):
        return str(value)
    text = json.dumps(value, sort_keys=True)
    if len(text) > SHOW_LIMIT:
        return f"{text[:SHOW_LIMIT]}... ({len(text)} characters)"
    return text


def _change_line(change: ValueChange) -> str:
    return f"{change.path}: {show(change.old)} -> {show(change.new)}"


def _resource_lines(change: ResourceChange) -> list[str]:
    lines = [f"replaced because {reason}" for reason in change.reasons]
    lines += [f"may be replaced: {reason}" for reason in change.possible_reasons]
    if change.replaced and change.delete_before_replace:
        lines.append("deleted before its replacement is created (`delete_before_replace`)")
    if change.replaced and change.retain_on_delete:
        lines.append("the one it replaces is forgotten, not deleted (`retain_on_delete`)")
    if change.replaced and change.protect:
        lines.append("PROTECTED: `pulumi up` refuses to replace it")
    lines += [_change_line(c) for c in change.changes]
    lines += [f"ignored (`ignore_changes`): {path}" for path in change.ignored]
    lines += [f"dependencies: + {urn}" for urn in change.dependencies_added]
    lines += [f"dependencies: - {urn}" for urn in change.dependencies_removed]
    return lines


def _operation(change: ResourceChange) -> str:
    if change.replaced:
        return "-/+ replace" if change.delete_before_replace else "+/- replace"
    return "~ update"


def _ordered(diff: PlanDiff) -> list[tuple[str, ResourceRef | ResourceChange]]:
    """Replacements first (what a reviewer must see), then deletions, creations, updates."""
    rows: list[tuple[str, ResourceRef | ResourceChange]] = []
    rows += [(_operation(c), c) for c in diff.replaced]
    rows += [("- forget" if r.retain_on_delete else "- delete", r) for r in diff.deleted]
    rows += [("+ create", r) for r in diff.created]
    rows += [(_operation(c), c) for c in diff.updated]
    return rows


def _protected(item: ResourceRef | ResourceChange, operation: str) -> bool:
    return item.protect and ("replace" in operation or "delete" in operation)


def render_text(diff: PlanDiff) -> str:
    lines: list[str] = []
    for operation, item in _ordered(diff):
        mark = "  [protected]" if _protected(item, operation) else ""
        lines.append(f"{operation}  {item.type}  {item.name}{mark}")
        if isinstance(item, ResourceChange):
            lines += [f"    {line}" for line in _resource_lines(item)]
    if diff.outputs:
        lines.append("~ stack outputs")
        lines += [f"    {_change_line(c)}" for c in diff.outputs]
    if diff.invokes:
        lines.append("~ provider calls")
        lines += [f"    {_change_line(c)}" for c in diff.invokes]
    if diff.empty:
        lines.append("no changes")
    lines += [f"error: {loss}, but it is protected" for loss in diff.protected_losses()]
    lines.append(diff.summary())
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(diff: PlanDiff) -> str:
    lines = [f"**{_cell(diff.summary())}**", ""]
    lines += [
        f"> **Refused by `pulumi up`:** {_cell(loss)}, but it is protected."
        for loss in diff.protected_losses()
    ]
    if diff.empty:
        lines.append("No changes.")
        return "\n".join(lines) + "\n"
    rows = _ordered(diff)
    if rows:
        lines += ["| | type | name | why |", "|---|---|---|---|"]
        for operation, item in rows:
            why = ""
            if isinstance(item, ResourceChange) and item.replaced:
                why = "; ".join(item.reasons)
            elif isinstance(item, ResourceChange) and item.possible_reasons:
                why = "may be replaced: " + "; ".join(item.possible_reasons)
            if _protected(item, operation):
                why = f"**protected** {why}".strip()
            lines.append(
                f"| {operation.split()[-1]} | `{_cell(item.type)}` | `{_cell(item.name)}` | "
                f"{_cell(why)} |"
            )
        lines.append("")
    details = [
        (f"{c.type.rsplit(':', 1)[-1]} {c.name}", _resource_lines(c))
        for _, c in rows
        if isinstance(c, ResourceChange)
    ]
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
    data["replaced"] = [c.urn for c in diff.replaced]
    data["protected_losses"] = diff.protected_losses()
    data["summary"] = diff.summary()
    return json.dumps(data, indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


# --- Command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offline.diff",
        description="Compare two offline plans (python -m offline.plan --format json).",
    )
    parser.add_argument("old", type=Path, help="the plan before (for example of the base branch)")
    parser.add_argument("new", type=Path, help="the plan after (for example of the pull request)")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument(
        "--fail-on-protected",
        action="store_true",
        help="exit 3 when a protected resource would be replaced or deleted",
    )
    args = parser.parse_args(argv)
    try:
        old, new = load_plan(args.old), load_plan(args.new)
    except PlanFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    diff = diff_plans(old, new)
    sys.stdout.write(RENDERERS[args.format](diff))
    if args.fail_on_protected and diff.protected_losses():
        return EXIT_PROTECTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
