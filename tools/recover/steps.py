"""A recovery step (`Step`), what steps need (`NEEDS`), and the shell pieces several scenarios
share: the work directory with the credentials, the choice of an etcd snapshot, the targeted
Pulumi commands, waiting for a condition.

Every command is POSIX shell, run from the repository root (where `Pulumi.yaml` is) with the
variables of `environment()`: the credentials live in files of the work directory, written with
umask 077 by the first step, and every command names the file or the variable, never a value.

A step's script is printed, and run by `--run`, as one block (`subshell`): `( set -eu` ...
`)`. Pasted into an interactive shell, an error or an `exit` ends that subshell, not the
operator's terminal, and the variables exported before stay set.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from .facts import Backup, Facts, Node

WORKDIR = "$HOME/.talos-platform/recover-{stack}"
"""The default work directory (`--workdir`): outside the repository, so nothing in it can be
committed by mistake. It holds the talosconfig, the kubeconfig, the R2 credentials and the etcd
snapshot: remove it when the recovery is over."""


@dataclass(frozen=True)
class Need:
    short: str
    """How a step names it."""
    what: str
    tool: str | None = None
    """A program that must be on the PATH (`--run` checks before the step)."""
    variable: str | None = None
    """A variable naming a file that must exist (`--run` checks before the step)."""


NEEDS: dict[str, Need] = {
    "pulumi": Need(
        "pulumi",
        "the Pulumi CLI logged in to the stack's backend, with its secrets provider "
        "(PULUMI_CONFIG_PASSPHRASE, or access to the KMS or Vault key) and the stack's "
        "provider credentials (its secret config)",
        tool="pulumi",
    ),
    "talosconfig": Need(
        "$TALOSCONFIG",
        "the talosconfig, from `pulumi stack output talosconfig --show-secrets` (step 1)",
        variable="TALOSCONFIG",
    ),
    "kubeconfig": Need(
        "$KUBECONFIG",
        "the admin kubeconfig, from `pulumi stack output kubeconfig --show-secrets` (step 1)",
        variable="KUBECONFIG",
    ),
    "r2": Need(
        "$AWS_SHARED_CREDENTIALS_FILE",
        "the bucket's S3 credentials, from "
        "`pulumi stack output backup_s3_credentials --show-secrets` (step 1)",
        variable="AWS_SHARED_CREDENTIALS_FILE",
    ),
    "age-key": Need(
        "$AGE_KEY_FILE",
        "the age private key file, from its offline copy (never in the repository or the "
        "cluster; docs/recovery.md)",
        variable="AGE_KEY_FILE",
    ),
    "talosctl": Need("talosctl", "talosctl v1.13", tool="talosctl"),
    "kubectl": Need("kubectl", "kubectl, within one minor version of the cluster", tool="kubectl"),
    "velero": Need("velero", "the velero CLI v1.18", tool="velero"),
    "aws": Need("aws", "the AWS CLI v2 (`aws s3api`, `aws s3 cp`)", tool="aws"),
    "age": Need("age", "age (`age -d`)", tool="age"),
    "jq": Need("jq", "jq", tool="jq"),
    # Not checked by `--run`: it puts its own interpreter first on the PATH of every step.
    "python": Need(
        "python",
        "the repository's .venv (this tool and the program's modules): "
        "`. .venv/bin/activate` in the repository root",
    ),
}


@dataclass(frozen=True)
class Hold:
    """Something a step puts on hold for the steps after it (Argo CD's sync, a Velero
    Schedule), which a later step gives back: if the procedure stops in between, the operator
    must give it back by hand (`--run` prints `undo` at a failure, the printout lists it)."""

    key: str
    what: str
    """What is on hold, as a sentence's subject: "Argo CD's sync of root, podinfo"."""
    undo: str
    """Shell that gives it back."""
    when: str = ""
    """When to give it back, if not at once."""


@dataclass(frozen=True)
class Step:
    title: str
    run: str
    """POSIX shell; it exits non-zero when the step failed."""
    needs: tuple[str, ...]
    """Keys of NEEDS."""
    check: str
    """POSIX shell that exits 0 when the step did what it should."""
    expect: str
    """What the check shows when it passes."""
    notes: tuple[str, ...] = ()
    destructive: bool = False
    """It deletes or wipes something: say so before asking."""
    holds: tuple[Hold, ...] = ()
    """What this step puts on hold (from its start: it may fail half-way)."""
    releases: tuple[str, ...] = ()
    """Keys of the holds this step gives back (once it and its check have passed)."""

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"step {self.title!r} needs unknown {sorted(unknown)}")


def q(value: str) -> str:
    """Quoted for the shell (URNs hold `$`)."""
    return shlex.quote(value)


def subshell(script: str) -> str:
    """The block that is printed and that `--run` runs (`/bin/sh -c`): `script` in a subshell
    with `set -eu`. Pasted into an interactive shell (sh, bash, zsh), an error or an `exit`
    inside ends the subshell, not the terminal, and the variables of the shell stay set (a
    subshell sees them all, exported or not); the commands keep the terminal as their input
    (pulumi's confirmation, a nested `--run`'s questions)."""
    if "\n" not in script and "#" not in script:
        return f"( set -eu; {script} )"
    return f"( set -eu\n{script}\n)"


def lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def command(words: Iterable[str]) -> str:
    """A `pulumi` command: the subcommand and `--stack` on the first line, then one flag (with
    its value) per line, joined with backslashes."""
    words = list(words)
    out = [" ".join(words[:4])]
    rest = words[4:]
    while rest:
        word = rest.pop(0)
        if word.startswith("--") and rest and not rest[0].startswith("--"):
            word = f"{word} {rest.pop(0)}"
        out.append(word)
    return " \\\n  ".join(out)


def environment(stack: str, workdir: str | None, r2: bool) -> list[tuple[str, str]]:
    """The variables every step runs with, as shell assignments (values may use $HOME and the
    variables before them)."""
    directory = workdir or WORKDIR.format(stack=stack)
    env = [
        ("RECOVER_DIR", directory),
        ("TALOSCONFIG", "$RECOVER_DIR/talosconfig"),
        ("KUBECONFIG", "$RECOVER_DIR/kubeconfig"),
    ]
    if r2:
        env += [
            ("AWS_SHARED_CREDENTIALS_FILE", "$RECOVER_DIR/r2-credentials"),
            # R2 takes `auto` (or us-east-1) as the region of a request signature.
            ("AWS_REGION", "auto"),
        ]
    return env


CREDENTIALS_FILE = (
    '"[default]\\naws_access_key_id = \\(.access_key_id // error("no access_key_id"))'
    '\\naws_secret_access_key = \\(.secret_access_key // error("no secret_access_key"))"'
)
"""jq: the output `backup_s3_credentials` as an AWS shared-credentials file (as the cluster's own
Secret velero/velero-r2 holds it)."""


def credentials(facts: Facts, r2: bool) -> Step:
    """Step 1 of every scenario: the stack's credentials into the work directory."""
    stack = facts.stack
    output = f"pulumi stack output --stack {stack} --show-secrets"
    run = [
        "umask 077",
        'mkdir -p "$RECOVER_DIR"',
        f'{output} talosconfig > "$TALOSCONFIG"',
        f'{output} kubeconfig > "$KUBECONFIG"',
    ]
    check = 'test -s "$TALOSCONFIG" && test -s "$KUBECONFIG"'
    expect = "the talosconfig and the kubeconfig, non-empty files readable by you alone"
    needs: tuple[str, ...] = ("pulumi",)
    if r2:
        # An AWS shared-credentials file (as the cluster's own Secret velero/velero-r2): the
        # values go from Pulumi to the file through jq, never through the command line.
        run.append(
            f"{output} --json backup_s3_credentials \\\n  | jq -r {q(CREDENTIALS_FILE)} "
            '> "$AWS_SHARED_CREDENTIALS_FILE"'
        )
        check += ' && test -s "$AWS_SHARED_CREDENTIALS_FILE"'
        expect = (
            "the talosconfig, the kubeconfig and the R2 credentials, each readable by you alone"
        )
        needs = ("pulumi", "jq")
    return Step(
        title="Write the stack's credentials into the work directory",
        run=lines(*run),
        needs=needs,
        check=check,
        expect=expect,
        notes=(
            "The stack outputs come from the Pulumi state, not from the cluster: they are there "
            "when the cluster is not. Nothing is printed; remove $RECOVER_DIR when done.",
        ),
    )


def wait_until(condition: str, minutes: int, what: str = "", every: int = 10) -> str:
    """Shell that retries `condition` (a command list) until it succeeds, failing after
    `minutes` (saying `what` was awaited); the script goes on after it (several can follow one
    another)."""
    tries = max(1, minutes * 60 // every) if every > 0 else 1
    waited = f": {what}" if what else ""
    return lines(
        "ok=",
        f"for attempt in $(seq {tries}); do",
        f"  if {condition}; then ok=1; break; fi",
        f"  sleep {every}",
        "done",
        f'[ -n "$ok" ] || {{ echo "error: not so after {minutes} minutes{waited}" >&2; exit 1; }}',
    )


def talos(node: Node | str, *args: str, endpoint: Node | str | None = None) -> str:
    """`talosctl -e <endpoint> -n <node> ...`: straight to the node unless an endpoint is given
    (a control plane's apid proxies to any node of the cluster)."""
    ip = node if isinstance(node, str) else node.ip
    ep = endpoint if isinstance(endpoint, str) else (endpoint.ip if endpoint else ip)
    return " ".join(["talosctl", "-e", ep, "-n", ip, *args])


def pulumi_refresh(stack: str, urns: Iterable[str]) -> str:
    words = ["pulumi", "refresh", "--stack", stack]
    for urn in urns:
        words += ["--target", q(urn)]
    return command(words)


def pulumi_up(
    stack: str, targets: Iterable[str] = (), replace: Iterable[str] = (), refresh: bool = False
) -> str:
    """`pulumi up` of the stack; `--target-replace` both targets and replaces (pulumi CLI)."""
    words = ["pulumi", "up", "--stack", stack]
    if refresh:
        words.append("--refresh")
    for urn in targets:
        words += ["--target", q(urn)]
    for urn in replace:
        words += ["--target-replace", q(urn)]
    return command(words)


def not_in_state(stack: str, urns: Iterable[str]) -> str:
    """Shell that exits 0 when none of `urns` is in the stack's state (`pulumi stack export`
    prints secrets encrypted; jq prints only the count)."""
    wanted = " ".join(q(u) for u in urns)
    return (
        f"pulumi stack export --stack {stack} | jq -e --args "
        "'[.deployment.resources[].urn | select(IN($ARGS.positional[]))] | length == 0' "
        f"{wanted} >/dev/null"
    )


KEY_TIME = (
    'capture("(?<t>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\\\\.[0-9]+)?'
    '(?<z>Z|[+-][0-9]{2}:[0-9]{2})\\\\.snap\\\\.age$") // error("no RFC 3339 time in the key")'
    ' | (.t + "Z" | fromdateiso8601) - (if .z == "Z" then 0 else'
    ' (if .z[0:1] == "-" then -1 else 1 end)'
    " * ((.z[1:3] | tonumber) * 3600 + (.z[4:6] | tonumber) * 60) end) | todate"
)
"""jq (`-R`): the time in a snapshot's key, in UTC as Kubernetes writes times
(`2026-05-04T02:00:00Z`, which compare as strings). talos-backup v0.1.0-beta.3 names the
snapshot `<cluster>-<time.Now() as RFC 3339>` (`pkg/talos/talos.go`): UTC, or an offset if the
job runs with a time zone."""


def snapshot_from_r2(backup: Backup, key: str | None, record_time: bool = False) -> str:
    """Shell: the newest encrypted snapshot of the cluster (or `key`), downloaded and decrypted
    into $RECOVER_DIR/db.snapshot; the chosen key in $RECOVER_DIR/snapshot-source, and with
    `record_time` the snapshot's time (UTC, from the key) in $RECOVER_DIR/snapshot-time."""
    s3 = f"--endpoint-url {backup.s3_endpoint}"
    if key:
        choose = f"key={q(key)}"
    else:
        # The newest by upload time (the key's RFC 3339 time is the snapshot's, in the job's
        # time zone). `--output text` prints `None` for an empty listing.
        choose = lines(
            f'key="$(aws s3api list-objects-v2 {s3} --bucket {backup.bucket} \\',
            f"  --prefix {backup.snapshot_prefix} --query 'Contents[].[LastModified, Key]' \\",
            '  --output text | sort | tail -n 1 | cut -f 2)"',
            'if [ -z "$key" ] || [ "$key" = None ]; then',
            f'  echo "error: no etcd snapshot under s3://{backup.bucket}/'
            f'{backup.snapshot_prefix}*" >&2; exit 1',
            "fi",
        )
    return lines(
        choose,
        'echo "etcd snapshot: $key"',
        f'aws s3 cp {s3} "s3://{backup.bucket}/$key" "$RECOVER_DIR/db.snapshot.age"',
        'age -d -i "$AGE_KEY_FILE" -o "$RECOVER_DIR/db.snapshot" "$RECOVER_DIR/db.snapshot.age"',
        'echo "$key" > "$RECOVER_DIR/snapshot-source"',
        (
            f'printf \'%s\\n\' "$key" | jq -Rr {q(KEY_TIME)} > "$RECOVER_DIR/snapshot-time"\n'
            'echo "taken at $(cat "$RECOVER_DIR/snapshot-time")"'
        )
        if record_time
        else "",
    )


SNAPSHOT_CHECK = (
    'size="$(wc -c < "$RECOVER_DIR/db.snapshot")" && [ $((size % 512)) -eq 32 ] '
    '&& cat "$RECOVER_DIR/snapshot-source"'
)
SNAPSHOT_EXPECT = (
    "$RECOVER_DIR/db.snapshot ends with its SHA-256 (its size modulo 512 is 32, etcd's own "
    "test, as talos-backup v0.1.0-beta.3 pkg/talos/talos.go makes it), and where it came from"
)
