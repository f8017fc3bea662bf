"""Where things are: the repository, and the upstream reference data beside it.

The upstream schemas, CRDs and chart defaults (Talos v1.13, Argo CD 3.4.4) are not part of this
repository: they are read from `$PLATFORM_SHARED_DIR`, or else from `../shared` beside the
repository. Whatever needs them says so when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_ENV_VAR = "PLATFORM_SHARED_DIR"


def shared_dir() -> Path | None:
    """`$PLATFORM_SHARED_DIR`, else `../shared`; None if absent."""
    configured = os.environ.get(SHARED_ENV_VAR)
    path = Path(configured) if configured else REPO_ROOT.parent / "shared"
    return path if path.is_dir() else None
