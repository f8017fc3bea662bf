"""`python -m tools.recover` prints blocks an operator can paste into an interactive shell: each
run and check block is a subshell with `set -eu`, so an `exit` (a check loop's `exit 1`, the
live snapshot's `exit 0`) ends the block and not the terminal, and the exported variables
survive; `--run` runs exactly those blocks. Checked for every scenario of every stack, with
the options that change the steps."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.recover.steps import subshell, wait_until

from .conftest import STACKS
from .recover_support import Recorder, fake, printed_blocks, run

#: The options that change which steps print, per scenario (`{worker}`, `{cp}`: a node of the
#: stack; a variant naming a role the stack lacks is skipped).
VARIANTS: dict[str, list[list[str]]] = {
    "worker-lost": [
        ["--node", "{worker}"],
        ["--node", "{worker}", "--volumes-lost"],
        ["--node", "{worker}", "--volumes-lost", "--backup", "velero-volumes-20260503030000"],
    ],
    "control-plane-lost": [["--node", "{cp}"], ["--node", "{cp}", "--volumes-lost"]],
    "quorum-lost": [
        [],
        ["--snapshot", "r2"],
        ["--snapshot", "etcd/x-2026-05-04T02:00:00Z.snap.age", "--node", "{cp}"],
    ],
    "namespace-deleted": [
        ["--namespace", "podinfo"],
        ["--namespace", "etcd-backup"],
        ["--namespace", "monitoring"],
        ["--namespace", "cloudflared"],
        ["--namespace", "podinfo", "--backup", "velero-volumes-20260503030000"],
        ["--namespace", "podinfo", "--keep-paused"],
    ],
    "cluster-lost": [[], ["--backup", "velero-volumes-20260503030000"]],
}


def _cases() -> list[tuple[str, str, list[str]]]:
    return [
        (stack, scenario, variant)
        for stack in STACKS
        for scenario, variants in VARIANTS.items()
        for variant in variants
    ]


def _argv(stack: str, doc_nodes: dict[str, list[str]], variant: list[str]) -> list[str] | None:
    out = []
    for word in variant:
        role = {"{worker}": "worker", "{cp}": "controlplane"}.get(word)
        if role is None:
            out.append(word)
        elif not doc_nodes[role]:
            return None
        else:
            out.append(doc_nodes[role][-1])
    return out


def _history_expansions(block: str) -> list[str]:
    """`!` outside single quotes followed by what bash's (and zsh's) interactive history
    expansion would take: `!x` expands, `! `, `!=` and `!(` do not."""
    found, quote = [], ""
    for i, char in enumerate(block):
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char == "'" and quote != '"':
            quote = "'"
        elif char == '"':
            quote = "" if quote == '"' else '"'
        elif char == "!" and block[i + 1 : i + 2] not in ("", " ", "\n", "=", "("):
            found.append(block[max(0, i - 20) : i + 20])
    return found


def _zsh_modifiers(block: str) -> list[str]:
    """`$name:x` outside single quotes: zsh reads `:x` as a modifier of the expansion."""
    outside = re.sub(r"'[^']*'", "''", block)
    return re.findall(r"\$[A-Za-z_][A-Za-z_0-9]*:[A-Za-z&]", outside)


@pytest.mark.parametrize(("stack", "scenario", "variant"), _cases())
def test_every_printed_block_is_a_subshell_that_parses(
    capsys: pytest.CaptureFixture[str],
    stack_plans: dict[str, Path],
    stack: str,
    scenario: str,
    variant: list[str],
) -> None:
    outputs = json.loads(stack_plans[stack].read_text())["outputs"]["nodes"]
    roles: dict[str, list[str]] = {"worker": [], "controlplane": []}
    for name, node in outputs.items():
        roles[node["role"]].append(name)
    argv = _argv(stack, roles, variant)
    if argv is None or (scenario == "control-plane-lost" and len(roles["controlplane"]) < 3):
        pytest.skip(f"{scenario} does not apply to {stack}")
    code, out, err = run(
        capsys, "--stack", stack, "--plan", str(stack_plans[stack]), "--scenario", scenario, *argv
    )
    assert code == 0, err
    assert "paste it whole into your shell" in out and "`--run` runs exactly these" in out
    blocks = printed_blocks(out)
    assert len(blocks) >= 4
    shells = ["/bin/sh", *[s for s in ("bash", "dash") if shutil.which(s)]]
    for number, block in enumerate(blocks, 1):
        where = f"block {number} of {stack} {scenario} {' '.join(argv)}:\n{block}"
        assert block.startswith("( set -eu") and block.endswith(")"), where
        assert "\t" not in block, f"a tab completes in an interactive shell: {where}"
        assert not _history_expansions(block), where
        assert not _zsh_modifiers(block), where
        for shell in shells:
            parsed = subprocess.run([shell, "-n", "-c", block], capture_output=True, text=True)
            assert parsed.returncode == 0, f"{shell}: {parsed.stderr}\n{where}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_an_exit_in_a_pasted_block_leaves_the_operator_s_shell_and_variables(
    capsys: pytest.CaptureFixture[str], prod_plan: Path, tmp_path: Path
) -> None:
    # The printed quorum-lost step 3 ends its loop with `exit 0` once a live snapshot is in
    # hand; a check loop ends with `exit 1`. Pasted bare into a terminal, either closes it.
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "quorum-lost"
    )
    assert code == 0
    snapshot = next(b for b in printed_blocks(out) if "exit 0" in b)
    failing_wait = subshell(wait_until("false", 0, "the thing", every=0))
    bin_dir = tmp_path / "bin"
    fake(bin_dir, "talosctl", 'echo snapshot > "$7"\n')  # talosctl -e IP -n IP etcd snapshot F
    script = "\n".join(
        [
            f'export PATH="{bin_dir}:$PATH" RECOVER_DIR="{tmp_path}"',
            "kept=yes",
            snapshot,
            'echo "after the snapshot block: $? $kept $RECOVER_DIR"',
            failing_wait,
            'echo "after the failing check: $? $kept"',
        ]
    )
    # An interactive bash (-i) reading the pasted lines from stdin, as a terminal would.
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-i"],
        input=script + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PS1": ""},
        timeout=60,
    )
    assert f"after the snapshot block: 0 yes {tmp_path}" in done.stdout, done.stderr
    assert "after the failing check: 1 yes" in done.stdout, done.stderr
    assert (tmp_path / "snapshot-source").read_text().startswith("live snapshot of")
    # And the same blocks unwrapped would have ended the shell at the first `exit`.
    bare = script.replace(snapshot, snapshot[len("( set -eu\n") : -len("\n)")])
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-i"],
        input=bare + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PS1": ""},
        timeout=60,
    )
    assert "after the snapshot block" not in done.stdout


def test_run_runs_exactly_the_printed_blocks(
    capsys: pytest.CaptureFixture[str], prod_plan: Path
) -> None:
    world = Recorder()
    code, out, _ = run(
        capsys, "--stack", "prod", "--plan", str(prod_plan), "--scenario", "namespace-deleted",
        "--namespace", "podinfo", "--run", "--yes", executor=world.executor(),
    )  # fmt: skip
    assert code == 0, out
    assert world.commands == printed_blocks(out)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_a_printed_block_runs_with_bin_sh_as_run_runs_it(tmp_path: Path) -> None:
    # `--run`'s real shell: the block, its `set -eu` inside, nothing else added.
    from tools.recover.runner import _shell

    assert _shell(subshell("true"), {"PATH": os.environ["PATH"]}) == 0
    assert _shell(subshell("false\necho not reached"), {"PATH": os.environ["PATH"]}) == 1
    assert _shell(subshell('echo "$UNSET_VARIABLE"'), {"PATH": os.environ["PATH"]}) != 0
