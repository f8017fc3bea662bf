"""Work the offline plan starts before it needs it: the renders that wait on a subprocess
(`kubectl kustomize` of the GitOps tree, `helm template` of a release) run in a background
thread while the interpreter imports the SDKs and runs the program, and the checks pick their
results up. Nothing here changes a result: a render that was not started is done on the spot.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from threading import Lock
from typing import Any

_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="offline-prefetch")
_PENDING: dict[Hashable, Future[Any]] = {}
_LOCK = Lock()


def start(key: Hashable, work: Callable[..., Any], *args: Any) -> None:
    """Run `work(*args)` in the background, once per key."""
    with _LOCK:
        if key not in _PENDING:
            _PENDING[key] = _EXECUTOR.submit(work, *args)


def take(key: Hashable) -> Future[Any] | None:
    """The background run for `key`, if one was started (each is taken once)."""
    with _LOCK:
        return _PENDING.pop(key, None)


def wait(key: Hashable) -> None:
    """Let a background run for `key` finish (its errors are the caller's to meet again)."""
    pending = take(key)
    if pending is not None:
        pending.exception()


def shutdown() -> None:
    """Cancel what has not started and let running renders finish (their subprocesses and
    temporary folders end cleanly) before the process leaves."""
    _EXECUTOR.shutdown(wait=True, cancel_futures=True)
