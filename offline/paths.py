"""Where things are: the repository, and the upstream reference data vendored into it.

The upstream schemas, CRDs and Helm chart (Talos v1.13, Argo CD 3.4.4 / chart argo-cd 10.1.1) are
pinned copies under `upstream/` (see upstream/README.md for where each comes from and how to
refresh it), so every check runs in any clone.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Pinned upstream data (upstream/README.md: provenance and `upstream/refresh.py`).
UPSTREAM_DIR = REPO_ROOT / "upstream"
#: Talos v1.13 `config.schema.json` and the generated base configs.
TALOS_SCHEMA_DIR = UPSTREAM_DIR / "talos" / "v1.13"
#: Argo CD CRDs (`application.yaml`, `applicationset.yaml`, `appproject.yaml`).
ARGOCD_CRDS_DIR = UPSTREAM_DIR / "argocd" / "crds"
#: The argo-cd Helm chart source (10.1.1), with its redis-ha subchart under `charts/`.
ARGOCD_CHART_DIR = UPSTREAM_DIR / "charts" / "argo-cd"
