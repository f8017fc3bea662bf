"""Check the repository's GitHub environments against what the delivery design rests on.

    gh api repos/<owner>/<repo>/environments > DIR/environments.json
    gh api repos/<owner>/<repo>/environments/<env>/deployment-branch-policies \\
        > DIR/branch-policies-<env>.json            # for each deploy environment
    python -m tools.github_settings DIR

One more rule comes from the stack files: when the dev stack shares its Cloudflare account with
any other stack (staging, prod, prod's second cluster or its edge stack), `preview-dev` must
require reviewers too. Cloudflare API tokens are account-wide for tunnels, Access, load balancers
and R2, so dev's token (which an unreviewed preview decrypts) could edit prod's Access
applications, Argo CD's login among them (docs/delivery.md, "Threat model").

The workflows only *name* environments; their protection lives in the repository's settings,
which no pull request can change and no file here can show. docs/delivery.md ("Threat model",
"GitHub environments and approvals") says what must hold; drift.yml's `settings` job runs this
daily from main and fails, naming each gap. Exit 0 when all holds, 1 otherwise, 2 on bad input.

Shapes (GitHub REST, "Deployment environments"): `GET .../environments` answers
`{"environments": [{"name", "protection_rules": [{"type": "required_reviewers",
"prevent_self_review", "reviewers": [...]}, ...], "deployment_branch_policy":
{"protected_branches", "custom_branch_policies"} | null}]}`; `GET .../deployment-branch-policies`
answers `{"branch_policies": [{"name", "type"}]}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: The environments pull-request previews run in (`preview-<stack>`, one per stack file), and
#: whether each must require a reviewer: every stack but dev (prod-edge's token also reads prod's
#: and prod-b's state through its StackReferences: docs/delivery.md, "Credentials").
PREVIEW_ENVIRONMENTS: dict[str, bool] = {
    "preview-dev": False,
    "preview-staging": True,
    "preview-prod": True,
    "preview-prod-b": True,
    "preview-prod-edge": True,
}
#: The deploy environments (pulumi-up.yml), named like their stacks, in deploy.yml's order (each
#: cluster stack before the edge stack that reads it), and whether each must require a reviewer.
#: All of them admit `main` only: their OIDC claim gets Stack Write.
DEPLOY_ENVIRONMENTS: dict[str, bool] = {
    "dev": False,
    "staging": True,
    "prod": True,
    "prod-b": True,
    "prod-edge": True,
}
DEPLOY_BRANCH = "main"


def _reviewers(environment: dict[str, Any]) -> dict[str, Any] | None:
    for rule in environment.get("protection_rules") or []:
        if rule.get("type") == "required_reviewers":
            return rule
    return None


def review_problems(name: str, environment: dict[str, Any]) -> list[str]:
    rule = _reviewers(environment)
    if rule is None or not rule.get("reviewers"):
        return [f"{name}: no required reviewers (Settings -> Environments -> {name})"]
    found = []
    if not rule.get("prevent_self_review"):
        found.append(f"{name}: reviewers may approve their own runs: turn on 'Prevent self-review'")
    if environment.get("can_admins_bypass") is not False:
        found.append(
            f"{name}: administrators may bypass its reviewers: turn off 'Allow administrators "
            "to bypass configured protection rules'"
        )
    return found


def branch_problems(name: str, environment: dict[str, Any], policies: dict[str, Any]) -> list[str]:
    policy = environment.get("deployment_branch_policy")
    if not policy or not policy.get("custom_branch_policies"):
        where = "every protected branch" if policy else "any branch or tag"
        return [
            f"{name}: deployable from {where}: set 'Deployment branches and tags' to selected "
            f"branches and tags, the branch `{DEPLOY_BRANCH}` only"
        ]
    names = sorted(
        f"{p.get('type', 'branch')} {p.get('name')}" for p in policies.get("branch_policies") or []
    )
    if names != [f"branch {DEPLOY_BRANCH}"]:
        return [
            f"{name}: deployable from {names or 'no branch'}, expected ['branch {DEPLOY_BRANCH}']"
        ]
    return []


def dev_shares_cloudflare(accounts: dict[str, str]) -> bool:
    """Whether the dev stack's Cloudflare account (one per stack) is also another stack's."""
    dev = accounts.get("dev")
    return dev is not None and dev in {v for k, v in accounts.items() if k != "dev"}


def stack_accounts(root: Path | None = None) -> dict[str, str]:
    """Each stack file's Cloudflare account: `cloudflare.account_id` of a cluster stack,
    `edge.account_id` of an edge stack (config/edge.py), for every Pulumi.<stack>.yaml of the
    repository, not only the ones named above: a stack added without its environments still
    counts."""
    from offline.paths import REPO_ROOT
    from offline.stackfile import read_stack_config

    root = root or REPO_ROOT
    found = {}
    for path in sorted(root.glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        values = read_stack_config(stack, path, root / "Pulumi.yaml").values
        for section in ("talos-platform:cloudflare", "talos-platform:edge"):
            account = json.loads(values.get(section) or "{}").get("account_id")
            if account:
                found[stack] = str(account)
    return found


def problems(
    environments: dict[str, Any],
    branch_policies: dict[str, dict[str, Any]],
    dev_shares_account: bool = False,
) -> list[str]:
    """Every gap between the repository's environments and the design."""
    found: list[str] = []
    by_name = {e.get("name"): e for e in environments.get("environments") or []}
    reviews = {**PREVIEW_ENVIRONMENTS, **DEPLOY_ENVIRONMENTS}
    if dev_shares_account:
        reviews["preview-dev"] = True
    for name, reviewed in reviews.items():
        environment = by_name.get(name)
        if environment is None:
            found.append(f"{name}: missing (Settings -> Environments -> New environment)")
            continue
        if reviewed:
            found += [
                p + (" (dev shares its Cloudflare account with another stack)")
                if name == "preview-dev"
                else p
                for p in review_problems(name, environment)
            ]
        if name in DEPLOY_ENVIRONMENTS:
            found += branch_problems(name, environment, branch_policies.get(name) or {})
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.github_settings DIR", file=sys.stderr)
        return 2
    folder = Path(args[0])
    try:
        environments = _read(folder / "environments.json")
        policies = {
            name: _read(folder / f"branch-policies-{name}.json")
            for name in DEPLOY_ENVIRONMENTS
            if (folder / f"branch-policies-{name}.json").is_file()
        }
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    found = problems(environments, policies, dev_shares_cloudflare(stack_accounts()))
    for problem in found:
        print(f"::error::{problem}")
    if not found:
        print("environments: as docs/delivery.md describes")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
