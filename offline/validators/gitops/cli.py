"""Command line: `python -m offline.validators.gitops --kubernetes-version v1.36.2 [root ...]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .tree import GitOpsError, root_of_path, roots
from .validate import validate_environment


def _root(argument: str) -> str:
    """A root as given: `prod`, `prod/clusters/prod-b`, or its folder (`gitops/envs/prod/
    clusters/prod-b`, a stack's `gitops.path`)."""
    return root_of_path(argument) or argument.strip("/")


def main(argv: Sequence[str] | None = None) -> int:
    """Check environments and the overlays of their clusters; print one line per problem; exit 1
    if any."""
    parser = argparse.ArgumentParser(
        prog="python -m offline.validators.gitops",
        description=sys.modules[__package__].__doc__,  # the package's docstring
    )
    parser.add_argument("--kubernetes-version", required=True, help="for example v1.36.2")
    parser.add_argument(
        "roots",
        nargs="*",
        metavar="root",
        help="an environment (prod), a cluster's overlay (prod/clusters/prod-b) or its folder "
        "(gitops/envs/prod/clusters/prod-b); default: every environment and overlay",
    )
    args = parser.parse_args(argv)
    count = 0
    try:
        for root in [_root(r) for r in args.roots] or list(roots()):
            problems = validate_environment(root, args.kubernetes_version)
            for problem in problems:
                print(problem)
            count += len(problems)
            print(f"{root}: {len(problems)} problem(s)", file=sys.stderr)
    except GitOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if count else 0
