"""Disaster recovery of a stack: the exact steps of each scenario, printed, or run one by one.

    python -m tools.recover --stack prod                                  # the scenarios
    python -m tools.recover --stack prod --scenario worker-lost --node prod-worker-2
    python -m tools.recover --stack prod --scenario quorum-lost [--snapshot r2|KEY]
    python -m tools.recover --stack prod --scenario namespace-deleted --namespace podinfo \\
                            [--backup NAME] --run [--yes]
    python -m tools.recover --stack prod --plan prod.json --scenario cluster-lost

The steps are built from the stack's plan: the program's offline run (in-process, as
`python -m offline.plan`, without its checks), or a recorded JSON plan (`--plan`). They name the
real nodes and addresses, the control-plane endpoint, the node the program bootstraps, the bucket
and its S3 endpoint, the URNs a targeted `pulumi refresh` or `pulumi up` takes, and the Argo CD
Applications of a namespace (from the GitOps tree of this checkout). Each step says what it needs
(the talosconfig and kubeconfig from the stack outputs, the bucket's S3 credentials from
`backup_s3_credentials`, the age private key, the CLIs), the command, and the check that must
pass after it with what it shows. A choice (which snapshot, which backup) defaults to the newest
and is printed; a Velero backup, to the newest started before the data went (the namespace
recreated, the node lost, the etcd snapshot taken).

Every run and check block is printed as a subshell, `( set -eu` ... `)`: pasted into an
interactive shell, an error or an `exit` inside ends the block, not the terminal, and the
exported variables stay set. `--run` runs exactly those blocks (`/bin/sh -c`) from the
repository root, asking before each (`--yes`: never; pulumi then skips its own confirmation too,
`PULUMI_SKIP_CONFIRMATIONS`), runs each step's check after it, and stops at the first step or
check that fails, naming it and what is still on hold (Argo CD's sync, Velero's Schedule) with
the command that gives it back. `--run` needs the lost node (`--node`) or namespace
(`--namespace`) named: printing uses an example.

No secret is ever printed or put on a command line: the first step writes the credentials from
`pulumi stack output --show-secrets` into files of the work directory (umask 077, outside the
repository: `--workdir`, default `$HOME/.talos-platform/recover-<stack>`), and every command
names those files (`$TALOSCONFIG`, `$KUBECONFIG`, `$AWS_SHARED_CREDENTIALS_FILE`,
`$AGE_KEY_FILE`). The plan itself holds no secret value: secret outputs are `[secret]`.

Exit status: 0 printed, or every step done; 1 the plan cannot be made or read, or a step (or its
check) failed or was not confirmed; 2 a usage error (unknown stack or scenario, a node or
namespace that does not fit, a plan of another stack).

docs/recovery.md explains each scenario, its RPO and RTO, the restore drill and where the state,
the Talos secrets and the age key live. Modules: `facts` (the plan), `applications` (the GitOps
tree), `steps` (a step, what it holds, the shared shell), `scenarios` (a package: one module per
scenario, their shared steps, the registry), `runner` (printing, running), `__main__` (the
command line).
"""

from __future__ import annotations

from .facts import Facts, RecoverError, facts_of, load_plan_file, stack_plan
from .runner import Executor, render, run_procedure
from .scenarios import SCENARIOS, Options, Procedure, procedure
from .steps import NEEDS, Step

__all__ = [
    "NEEDS",
    "SCENARIOS",
    "Executor",
    "Facts",
    "Options",
    "Procedure",
    "RecoverError",
    "Step",
    "facts_of",
    "load_plan_file",
    "procedure",
    "render",
    "run_procedure",
    "stack_plan",
]
