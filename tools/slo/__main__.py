"""`python -m tools.slo --stack <stack> [--check]`: write (or check) the stack's SLO rules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from offline.paths import REPO_ROOT

from . import __doc__ as package_doc
from . import files
from .rules import SloError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.slo", description=(package_doc or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--stack",
        required=True,
        help="a stack file's name: a cluster's (dev, prod-b) or an edge's (prod-edge)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check; exit 1 when a file is stale"
    )
    args = parser.parse_args(argv)
    if not (REPO_ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        print(f"error: no stack file Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    try:
        if args.check:
            paths = files.stale(args.stack)
            for path in paths:
                print(
                    f"stale: {files.shown(path)} (run python -m tools.slo --stack {args.stack})",
                    file=sys.stderr,
                )
            return 1 if paths else 0
        for path, text in files.render(args.stack).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(files.shown(path))
    except SloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
