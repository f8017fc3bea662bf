"""What the `tools.recover` tests share: running the command, reading what it printed (the
commands, the blocks, the URNs), an executor that records, fake programs on the PATH."""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tools.recover import Executor
from tools.recover.__main__ import main

URN = re.compile(r"urn:pulumi:[^'\s]+")


def run(capsys: pytest.CaptureFixture[str], *argv: str, **kwargs: Any) -> tuple[int, str, str]:
    code = main(list(argv), **kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def steps_text(out: str) -> str:
    """The commands of the printed steps (`run:` and `check:` blocks), without the notes."""
    keep, block = [], False
    for line in out.splitlines():
        if line.startswith("  run:") or line.startswith("  check:"):
            block = True
        elif line.startswith("  ") and not line.startswith("    "):
            block = False
        elif block:
            keep.append(line)
    return "\n".join(keep)


def printed_blocks(out: str) -> list[str]:
    """Each printed `run:` and `check:` block, as the operator would paste it (the printout's
    indentation removed), in order."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in out.splitlines():
        if line in ("  run:", "  check:"):
            current = []
            blocks.append(current)
        elif current is not None and line.startswith("    "):
            current.append(line[4:])
        else:
            current = None
    return ["\n".join(b) for b in blocks]


def step_blocks(out: str) -> list[tuple[str, str]]:
    """(step title line, its commands) for each printed step."""
    found = []
    for chunk in re.split(r"\n(?=Step \d+\. )", out):
        if chunk.startswith("Step "):
            found.append((chunk.splitlines()[0], steps_text(chunk)))
    return found


def urns_of(doc: dict[str, Any], token: str) -> dict[str, str]:
    return {r["name"]: r["urn"] for r in doc["resources"] if r["type"] == token}


def assert_known_urns(out: str, doc: dict[str, Any]) -> set[str]:
    known = {r["urn"] for r in doc["resources"]}
    found = set(URN.findall(out))
    assert found, "no URN in the steps"
    assert found <= known, f"URNs that are not in the plan: {found - known}"
    return found


class Recorder:
    """An executor's world: every command recorded, the statuses and answers scripted."""

    def __init__(self, fail: str | None = None, answers: bool = True, missing: str = "") -> None:
        self.commands: list[str] = []
        self.envs: list[Mapping[str, str]] = []
        self.questions: list[str] = []
        self.fail, self.answers, self.missing = fail, answers, missing

    def shell(self, command: str, env: Mapping[str, str]) -> int:
        self.commands.append(command)
        self.envs.append(env)
        return 3 if self.fail and self.fail in command else 0

    def ask(self, prompt: str) -> bool:
        self.questions.append(prompt)
        return self.answers

    def executor(self) -> Executor:
        return Executor(
            shell=self.shell,
            ask=self.ask,
            which=lambda tool: None if tool == self.missing else f"/usr/bin/{tool}",
            is_file=lambda path: path == "/keys/age.txt",
            base_env={"HOME": "/home/op", "PATH": "/usr/bin", "AGE_KEY_FILE": "/keys/age.txt"},
        )


def fake(directory: Path, name: str, body: str) -> None:
    """An executable `directory/name` running `body` with /bin/sh."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
