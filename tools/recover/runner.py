"""Printing a procedure, and running it: step by step, asking before each (unless `--yes`),
stopping at the first step (or check) that fails and naming it, and then what is still on
hold (Argo CD's sync, the Velero Schedule) with the command that gives it back.

What is printed is what runs: each run and check block is `steps.subshell` of the step's
script, printed as it is and run by `/bin/sh -c` as it is.

How a command runs is injectable (`Executor`): the tests run the steps without a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from offline.paths import REPO_ROOT

from .facts import EXIT_FAILED, EXIT_OK, Facts
from .scenarios import Procedure
from .steps import NEEDS, Hold, Step, environment, subshell

INDENT = "    "


def _shell(command: str, env: Mapping[str, str]) -> int:
    """Runs a printed block as it is printed (it sets -eu itself, in its subshell)."""
    return subprocess.run(
        ["/bin/sh", "-c", command], env=dict(env), cwd=REPO_ROOT, check=False
    ).returncode


def _ask(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


@dataclass
class Executor:
    """What running a procedure does with the world; the tests replace each part."""

    shell: Callable[[str, Mapping[str, str]], int] = _shell
    """Runs a printed block (POSIX shell) with the environment; returns its exit status."""
    ask: Callable[[str], bool] = _ask
    which: Callable[[str], str | None] = shutil.which
    is_file: Callable[[str], bool] = os.path.isfile
    clock: Callable[[], float] = time.monotonic
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


# --- Printing --------------------------------------------------------------------------------


def header(facts: Facts, procedure: Procedure, workdir: str | None) -> list[str]:
    out = [
        f"# {procedure.scenario} on stack {facts.stack}: {procedure.summary}",
        f"cluster {facts.cluster_name}, Kubernetes API {facts.endpoint}, control planes "
        + ", ".join(f"{n.name} {n.ip}" for n in facts.control_planes)
        + (
            ", workers " + ", ".join(f"{n.name} {n.ip}" for n in facts.workers)
            if facts.workers
            else ""
        ),
        *procedure.choices,
        "",
        "Run every step from the repository root (where Pulumi.yaml is), with:",
    ]
    out += [
        f'{INDENT}export {name}="{value}"'
        for name, value in environment(facts.stack, workdir, procedure.r2)
    ]
    if procedure.r2:
        # No comment on a command line: zsh without `interactivecomments` would take it as
        # words of the command.
        out.append("and the age private key file, from its offline copy (your path, not this one):")
        out.append(f'{INDENT}export AGE_KEY_FILE="/path/to/age-key.txt"')
    used = [key for key in NEEDS if any(key in step.needs for step in procedure.steps)]
    out.append("What the steps need:")
    out += [f"{INDENT}{NEEDS[key].short}: {NEEDS[key].what}" for key in used]
    out.append("Nothing here holds a secret: commands name files and variables, never values.")
    out.append(
        "Each run and check block is a subshell, `( set -eu` ... `)`: paste it whole into your "
        "shell (sh, bash, zsh) after the exports above. An error or an `exit` inside ends the "
        "block, not your shell, and the variables stay set. `--run` runs exactly these "
        "blocks, with /bin/sh."
    )
    return out


def _block(label: str, text: str) -> list[str]:
    return [f"  {label}:", *[f"{INDENT}{line}" for line in text.splitlines()]]


def step_lines(number: int, step: Step) -> list[str]:
    marker = " [destructive]" if step.destructive else ""
    out = [f"Step {number}. {step.title}{marker}"]
    out.append("  needs: " + ", ".join(NEEDS[n].short for n in step.needs))
    out += _block("run", subshell(step.run))
    out += _block("check", subshell(step.check))
    out.append(f"  expect: {step.expect}")
    out += [f"  note: {note}" for note in step.notes]
    return out


def hold_lines(hold: Hold, prefix: str) -> list[str]:
    """`prefix`, what is on hold and when to give it back, then the command that does."""
    when = f" ({hold.when})" if hold.when else ""
    return [
        f"{prefix}{hold.what} is on hold: give it back{when} with",
        *[f"{INDENT}{line}" for line in hold.undo.splitlines()],
    ]


def render(facts: Facts, procedure: Procedure, workdir: str | None) -> str:
    out = header(facts, procedure, workdir)
    for number, step in enumerate(procedure.steps, 1):
        out += ["", *step_lines(number, step)]
    held = [(n, hold) for n, step in enumerate(procedure.steps, 1) for hold in step.holds]
    if held:
        out += ["", "If you stop, or a step fails, between these steps:"]
        for number, hold in held:
            released = [
                n
                for n, step in enumerate(procedure.steps, 1)
                if n > number and hold.key in step.releases
            ]
            until = f"to step {released[0]}" if released else "on (still so at the end)"
            out += hold_lines(hold, f"  - from step {number} {until}: ")
    if procedure.after:
        out += ["", "Afterwards:"] + [f"  - {line}" for line in procedure.after]
    out += ["", f"When done: rm -rf {environment(facts.stack, workdir, False)[0][1]}"]
    return "\n".join(out) + "\n"


# --- Running ---------------------------------------------------------------------------------


def run_environment(
    facts: Facts, procedure: Procedure, workdir: str | None, executor: Executor, assume_yes: bool
) -> dict[str, str]:
    """The environment of every step: the caller's, the work directory's variables (expanded),
    this interpreter first on the PATH (steps run `python -m tools.recover`)."""
    env = dict(executor.base_env)
    for name, value in environment(facts.stack, workdir, procedure.r2):
        expanded = value.replace("$RECOVER_DIR", env.get("RECOVER_DIR", ""))
        expanded = expanded.replace("$HOME", env.get("HOME", str(Path.home())))
        env[name] = str(Path(expanded).absolute()) if name == "RECOVER_DIR" else expanded
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if assume_yes:
        # pulumi's own confirmation (it still prints the preview), and nested runs.
        env["PULUMI_SKIP_CONFIRMATIONS"] = "true"
        env["RECOVER_YES"] = "1"
    return env


def missing_needs(step: Step, env: Mapping[str, str], executor: Executor) -> list[str]:
    missing = []
    for key in step.needs:
        need = NEEDS[key]
        if need.tool and executor.which(need.tool) is None:
            missing.append(f"{need.tool} is not on the PATH ({need.what})")
        # Files the steps write themselves (the talosconfig...) are checked by their own step.
        if key == "age-key":
            path = env.get(need.variable or "", "")
            if not path or not executor.is_file(path):
                missing.append(f"${need.variable} names no file ({need.what})")
    return missing


def run_procedure(
    facts: Facts,
    procedure: Procedure,
    workdir: str | None,
    executor: Executor,
    out: TextIO,
    assume_yes: bool = False,
) -> int:
    for line in header(facts, procedure, workdir):
        print(line, file=out)
    env = run_environment(facts, procedure, workdir, executor, assume_yes)
    print(f"work directory: {env['RECOVER_DIR']}", file=out)
    total = len(procedure.steps)
    begun = executor.clock()
    held: dict[str, Hold] = {}

    def report_held() -> None:
        for hold in held.values():
            for line in hold_lines(hold, "still: "):
                print(line, file=out)

    def stop(message: str) -> int:
        print(message, file=out)
        report_held()
        return EXIT_FAILED

    for number, step in enumerate(procedure.steps, 1):
        print("", file=out)
        for line in step_lines(number, step):
            print(line, file=out)
        missing = missing_needs(step, env, executor)
        if missing:
            for item in missing:
                print(f"error: step {number} needs {item}", file=out)
            return stop(f"stopped before step {number} of {total}: {step.title}")
        if not assume_yes:
            danger = " It is destructive." if step.destructive else ""
            if not executor.ask(f"Run step {number} of {total}?{danger} [y/N] "):
                return stop(f"stopped before step {number} of {total} (not confirmed)")
        # On hold from the moment the step starts: it may fail half-way through.
        held.update((hold.key, hold) for hold in step.holds)
        out.flush()
        started = executor.clock()
        status = executor.shell(subshell(step.run), env)
        if status != 0:
            return stop(f"FAILED: step {number} of {total}, {step.title!r}: exit status {status}")
        out.flush()
        status = executor.shell(subshell(step.check), env)
        if status != 0:
            return stop(
                f"FAILED: the check of step {number} of {total}, {step.title!r} (exit status "
                f"{status}): expected {step.expect}"
            )
        for key in step.releases:
            held.pop(key, None)
        took = _duration(executor.clock() - started)
        print(f"step {number} of {total} done in {took}: {step.expect}", file=out)
    print("", file=out)
    for line in procedure.after:
        print(f"afterwards: {line}", file=out)
    report_held()
    print(
        f"all {total} steps done in {_duration(executor.clock() - begun)} (the RTO of this run: "
        f"record it, docs/recovery.md); remove {env['RECOVER_DIR']}, it holds credentials",
        file=out,
    )
    return EXIT_OK


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
