"""Command line: `python -m offline.validators.gitops --kubernetes-version v1.36.2 [env ...]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .tree import ENVIRONMENTS, GitOpsError
from .validate import validate_environment


def main(argv: Sequence[str] | None = None) -> int:
    """Check environments; print one line per problem; exit 1 if any."""
    parser = argparse.ArgumentParser(
        prog="python -m offline.validators.gitops",
        description=sys.modules[__package__].__doc__,  # the package's docstring
    )
    parser.add_argument("--kubernetes-version", required=True, help="for example v1.36.2")
    parser.add_argument("environments", nargs="*", default=list(ENVIRONMENTS))
    args = parser.parse_args(argv)
    count = 0
    try:
        for env in args.environments:
            problems = validate_environment(env, args.kubernetes_version)
            for problem in problems:
                print(problem)
            count += len(problems)
            print(f"{env}: {len(problems)} problem(s)", file=sys.stderr)
    except GitOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if count else 0
