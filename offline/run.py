"""Run `__main__.py` in-process under Pulumi's mock runtime and collect what it registered."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import set_mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from .answers import PlanMocks
from .paths import REPO_ROOT
from .recorder import SECRET, InvokeRecord, RecordingMonitor, Registration

PROJECT = "talos-platform"
ORGANIZATION = "organization"
"""The Pulumi organization of an offline run (the mock runtime's default name)."""


@dataclass
class ProgramRun:
    project: str
    stack: str
    registrations: list[Registration]
    invokes: list[InvokeRecord]
    outputs: dict[str, Any]
    """Stack outputs, with secret ones replaced by `[secret]`."""
    secret_outputs: list[str]


def _resolve_outputs(outputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    resolved: dict[str, Any] = {}
    secret: list[str] = []

    async def collect() -> None:
        for name, value in outputs.items():
            out = pulumi.Output.from_input(value)
            is_secret = await out.is_secret()
            plain = await out.future()
            if is_secret:
                secret.append(name)
                resolved[name] = SECRET
            else:
                resolved[name] = plain

    _sync_await(collect())
    return resolved, secret


def _drop_leftovers() -> None:
    """A run that failed halfway leaves its tasks behind: on the event loop, and in the
    settings' set of outputs to wait for, which `set_mocks` does not reset. The next run in this
    process would wait for them and report their errors as its own: cancel and forget them."""
    loop = asyncio.get_event_loop()
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    with settings.SETTINGS.lock:
        settings.SETTINGS.outputs.clear()


def run_program(
    config: dict[str, str],
    secret_keys: set[str],
    stack: str,
    program: Path | None = None,
    project: str = PROJECT,
    on_register: Callable[[Registration], None] | None = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
) -> ProgramRun:
    """Run the Pulumi program once with `config`; raises what the program raises.
    `stack_outputs` are what a StackReference may read, by `organization/project/stack`."""
    program = program or REPO_ROOT / "__main__.py"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    # The SDKs leave some 400k long-lived objects behind; keep the collector from rescanning them
    # on every run (about 40 % of a large plan's time).
    gc.freeze()
    mocks = PlanMocks(stack_outputs)
    monitor = RecordingMonitor(mocks, on_register)
    settings.ROOT.set(None)
    set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=False,
        monitor=monitor,
        organization=ORGANIZATION,
    )
    set_all_config(dict(config), sorted(secret_keys))
    root = settings.get_root_resource()

    def body() -> None:
        runpy.run_path(str(program), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(body))
    except BaseException:
        _drop_leftovers()
        raise
    raw_outputs = dict(getattr(root, "outputs", {}) or {})
    outputs, secret_outputs = _resolve_outputs(raw_outputs)
    return ProgramRun(
        project=project,
        stack=stack,
        registrations=monitor.registrations,
        invokes=monitor.invokes,
        outputs=outputs,
        secret_outputs=secret_outputs,
    )
