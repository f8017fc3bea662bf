"""Write every Kubernetes object of the stacks, as the offline plan renders it, one YAML per
object, for the scanners (`checkov --framework kubernetes -d DIR`; docs/supply-chain.md,
"Scanners").

    python -m offline.scan --out DIR [--stack dev --stack staging --stack prod] [--skips]

Without `--stack`, every shipped stack; objects alike in several stacks are written once
(`files.py`). With `--skips`, each object carries the baseline's skips for it as checkov
annotations (`baseline.annotated`), so checkov reports them as suppressed, with their reasons
(what .github/workflows/scan.yml uploads); without, the objects are written as rendered.
Exit status 0 when written, 1 when a stack cannot be rendered, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from config.errors import ConfigError

from ..stackfile import StackFileError
from ..validators import gitops, helm_render
from . import baseline, files
from .objects import STACKS, StackObject, stack_manifests


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m offline.scan",
        description="Write every object the stacks put in their clusters, one YAML per object.",
    )
    p.add_argument(
        "--stack",
        action="append",
        choices=STACKS,
        help="a stack to render (repeat for several; default: all)",
    )
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument(
        "--skips",
        nargs="?",
        const=baseline.BASELINE,
        type=Path,
        metavar="BASELINE",
        help="annotate each object with the checkov skips of the baseline "
        "(default file: .checkov-baseline.yaml)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stacks = list(dict.fromkeys(args.stack or STACKS))
    by_stack: dict[str, list[StackObject]] = {}
    try:
        for stack in stacks:
            by_stack[stack] = stack_manifests(stack)
    except (StackFileError, ConfigError, gitops.GitOpsError, helm_render.HelmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    transform = None
    if args.skips is not None:
        try:
            skips = baseline.load(args.skips)
        except baseline.BaselineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

        def transform(manifest: dict[str, Any]) -> dict[str, Any]:
            return baseline.annotated(manifest, skips)

    written = files.write(by_stack, args.out, transform)
    counts = ", ".join(f"{stack} {len(objects)}" for stack, objects in by_stack.items())
    print(f"wrote {len(written)} files to {args.out} (objects: {counts})", file=sys.stderr)
    return 0
