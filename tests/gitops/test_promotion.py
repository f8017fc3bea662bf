"""The promotion point: the image tag in each overlay, read and written by
offline.validators.gitops."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from offline.validators import gitops


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, target)
    monkeypatch.setattr(gitops.tree, "GITOPS_DIR", target)
    return target


def test_every_environment_has_a_version_per_app() -> None:
    for env in gitops.ENVIRONMENTS:
        versions = gitops.app_versions(env)
        assert set(versions) == {"podinfo"}
        assert (
            gitops.image_tag_problem(f"ghcr.io/stefanprodan/podinfo:{versions['podinfo']}") is None
        )


def test_set_app_version_changes_only_the_tag(tree: Path) -> None:
    path = gitops.app_version_file("prod", "podinfo")
    before = path.read_text()
    gitops.set_app_version("prod", "podinfo", "6.9.3")
    assert gitops.app_versions("prod") == {"podinfo": "6.9.3"}
    after = path.read_text()
    assert [line for line in after.splitlines() if "newTag" not in line] == [
        line for line in before.splitlines() if "newTag" not in line
    ]
    # The rendered overlay follows the new tag.
    objs = gitops.render(tree / "apps" / "podinfo" / "overlays" / "prod")
    images = {
        obj["spec"]["template"]["spec"]["containers"][0]["image"]
        for obj in objs
        if obj["kind"] == "Deployment"
    }
    assert images == {"ghcr.io/stefanprodan/podinfo:6.9.3"}


@pytest.mark.parametrize("tag", ["latest", "", "6.9.3 # x", "a" * 129])
def test_set_app_version_refuses_unpinned_tags(tree: Path, tag: str) -> None:
    with pytest.raises(gitops.GitOpsError):
        gitops.set_app_version("dev", "podinfo", tag)


def test_unknown_environment_or_app(tree: Path) -> None:
    with pytest.raises(gitops.GitOpsError, match="unknown environment"):
        gitops.app_versions("qa")
    with pytest.raises(gitops.GitOpsError, match="no such overlay"):
        gitops.set_app_version("dev", "nope", "1.0.0")


def test_overlay_without_a_single_image_entry_is_an_error(tree: Path) -> None:
    path = gitops.app_version_file("dev", "podinfo")
    path.write_text(path.read_text().replace("images:", "imagez:"))
    with pytest.raises(gitops.GitOpsError, match="exactly one `images:` entry"):
        gitops.app_versions("dev")
