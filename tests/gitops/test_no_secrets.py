"""Nothing secret lives in the GitOps tree: no file holds a credential, and no environment
renders a Secret with data; the credentials the add-ons read (R2 keys, the kopia password, the
Proxmox token, Alertmanager receivers, Grafana's login) are the program's Secrets."""

from __future__ import annotations

import pytest

from config.errors import credential_kind
from offline.paths import REPO_ROOT
from offline.validators import gitops

TREE = REPO_ROOT / "gitops"


def test_no_file_of_the_tree_holds_a_credential() -> None:
    found = []
    for path in sorted(TREE.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".json", ".md"):
            kind = credential_kind(path.read_text(encoding="utf-8"))
            if kind:
                found.append(f"{path.relative_to(REPO_ROOT)}: {kind}")
    assert found == []


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_no_environment_renders_a_secret_with_data(env: str) -> None:
    secrets = [
        f"{o.origin}: {o.manifest['metadata'].get('namespace')}/{o.manifest['metadata']['name']}"
        for objects in gitops._render_environment(env).values()
        for o in objects
        if o.manifest.get("kind") == "Secret"
        and (o.manifest.get("data") or o.manifest.get("stringData"))
    ]
    assert secrets == []
