"""What a change may not do to a running stack, judged against the plan of what runs now
(`python -m offline.plan --baseline PLAN.json`).

- Replace or delete a protected resource: `pulumi up` refuses. A change that means it (a worker
  removed from prod, a control plane moved to another host) lists each such resource with
  `--allow-loss NAME` (or in an `--allow-loss-file`), after `pulumi state unprotect`; an
  allowance that matches no loss of this change is itself a problem, so none outlives its change.
- Replace or delete more than one control plane at once: each leaves etcd as it goes, and two at
  a time can leave etcd without quorum.
- Remove or replace a node whose configuration apply, as it runs now, still resets the node on
  delete (`onDestroy.reset`, what this program set before its exit steps owned leaving): the
  provider reads that from its state, so the reset would come before the exit step's drain.
  Apply the program's new version first, with the same nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..plan_diff import diff_plans

VM_TYPE = "proxmoxve:index/vmLegacy:VmLegacy"
CONTROL_PLANE_DESCRIPTION = "Talos controlplane of cluster "
"""How a control plane's VM describes itself (components/proxmox/vm.py, `vm_description`)."""


class AllowanceFileError(Exception):
    pass


def read_allowances(path: Path) -> list[str]:
    """Resource names or URNs, one per line; `#` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AllowanceFileError(f"{path}: cannot be read ({exc})") from exc
    return [
        line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
    ]


def change_problems(
    baseline: dict[str, Any], doc: dict[str, Any], allowed: list[str] | None = None
) -> list[str]:
    allowed = list(allowed or [])
    diff = diff_plans(baseline, doc)
    losses = [(c.urn, c.name, c.type, "replaced") for c in diff.replaced if c.protect]
    losses += [(r.urn, r.name, r.type, "deleted") for r in diff.deleted if r.protect]
    problems = []
    used: set[str] = set()
    for urn, name, kind, what in losses:
        allowance = next((a for a in allowed if a in (urn, name)), None)
        if allowance is None:
            problems.append(
                f"{kind} {name} would be {what}, but it is protected: `pulumi up` refuses. If "
                f"that is the point, `pulumi state unprotect` it and allow it here with "
                f"--allow-loss {name}"
            )
        else:
            used.add(allowance)
    problems += [
        f"--allow-loss {a}: no protected resource of this change is replaced or deleted by that "
        "name; remove the allowance"
        for a in allowed
        if a not in used
    ]
    old = {r["urn"]: r for r in baseline.get("resources", [])}
    lost = sorted(
        {
            ref.name
            for ref in [*diff.replaced, *diff.deleted]
            if ref.type == VM_TYPE
            and str(old.get(ref.urn, {}).get("inputs", {}).get("description") or "").startswith(
                CONTROL_PLANE_DESCRIPTION
            )
        }
    )
    applies = "talos:machine/configurationApply:ConfigurationApply"
    for ref in [*diff.replaced, *diff.deleted]:
        on_destroy = old.get(ref.urn, {}).get("inputs", {}).get("onDestroy") or {}
        if ref.type == applies and on_destroy.get("reset"):
            problems.append(
                f"{ref.name}: its configuration apply, as it runs now, resets the node when "
                "deleted (onDestroy.reset), before the node's exit step could drain it; apply "
                "this version of the program first without removing or replacing nodes"
            )
    if len(lost) > 1:
        problems.append(
            f"control planes {', '.join(lost)} would be replaced or deleted in one change: etcd "
            "can lose quorum while they leave and rejoin; change one control plane at a time"
        )
    return problems
