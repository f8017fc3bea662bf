"""Each environment follows its own Git ref: dev `main`, staging `env/staging`, prod `env/prod`.
The stack (root Application) and the tree (its child Applications) name the same ref, the checks
catch it when they do not, and a merge to main leaves prod's Applications where they were."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.validators import gitops
from offline.validators.checks import run_checks
from tests.conftest import by_type, document, recorded
from tests.delivery.gitrepo import GitRepo, isolate_git
from tools.promote import main as promote

from .conftest import objects

REFS = {"dev": "main", "staging": "env/staging", "prod": "env/prod"}
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
K8S = "v1.36.2"
Rendered = dict[str, dict[str, list[dict[str, Any]]]]


def from_this_repository(rendered_env: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The Applications that follow a folder of this repository (the add-ons follow charts)."""
    apps = objects(rendered_env, "Application")
    return [app for app in apps if app["spec"]["source"]["repoURL"] == gitops.GITOPS_REPO_URL]


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_each_environment_follows_its_own_ref(env: str, rendered: Rendered) -> None:
    assert gitops.environment_revision(env) == REFS[env]
    apps = from_this_repository(rendered[env])
    assert sorted(app["metadata"]["name"] for app in apps) == [
        "etcd-backup",
        "monitoring-config",
        "platform",
        "podinfo",
    ]
    assert {app["spec"]["source"]["targetRevision"] for app in apps} == {REFS[env]}


@pytest.mark.parametrize("env", gitops.ENVIRONMENTS)
def test_the_root_application_follows_the_same_ref(env: str, rendered: Rendered) -> None:
    stack = gitops.stack_revision(env)
    assert stack == gitops.StackRevision(REFS[env], f"Pulumi.{env}.yaml")
    (root,) = by_type(recorded(env), APPLICATION)
    source = root.inputs["spec"]["source"]
    assert (source["targetRevision"], source["path"]) == (REFS[env], f"gitops/envs/{env}")
    for app in from_this_repository(rendered[env]):
        assert app["spec"]["source"]["targetRevision"] == source["targetRevision"]


# --- Disagreements are problems -----------------------------------------------------------------


def _stacks_with(tmp_path: Path, env: str, old: str, new: str) -> Path:
    """A copy of the project and stack files, `old` replaced by `new` in Pulumi.<env>.yaml."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for name in ("Pulumi.yaml", f"Pulumi.{env}.yaml"):
        shutil.copy(gitops.REPO_ROOT / name, stacks / name)
    path = stacks / f"Pulumi.{env}.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    return stacks


def test_a_stack_that_follows_another_ref_than_its_tree_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stacks = _stacks_with(tmp_path, "prod", "revision: env/prod", "revision: main")
    monkeypatch.setattr(gitops.tree, "STACKS_DIR", stacks)
    stack = gitops.stack_revision("prod")
    assert isinstance(stack, gitops.StackRevision) and stack.value == "main"
    env = gitops.GITOPS_DIR / "envs" / "prod"
    rendered = {"gitops/envs/prod": gitops.render_with_origins(env)}
    problems = gitops.revision_problems("prod", rendered, stack)
    assert [p.object for p in problems] == [
        "Application argocd/platform",
        "Application argocd/podinfo",
    ]
    for problem in problems:
        assert problem.source == "gitops/envs/prod/revision.yaml"
        assert problem.field == "spec.source.targetRevision"
        assert problem.message.startswith(
            f"follows 'env/prod', but talos-platform:gitops.revision in {stacks}/Pulumi.prod.yaml "
            "(the root Application's targetRevision) is 'main'"
        )


def test_validate_environment_compares_with_the_stack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        gitops.tree, "STACKS_DIR", _stacks_with(tmp_path, "staging", "env/staging", "env/stage")
    )
    problems = gitops.validate_environment("staging", K8S)
    assert [(p.object, p.field, "'env/stage'" in p.message) for p in problems] == [
        ("Application argocd/platform", "spec.source.targetRevision", True),
        ("Application argocd/podinfo", "spec.source.targetRevision", True),
    ]
    # An explicit ref (the root Application's, as the plan knows it) wins over the file.
    given = gitops.StackRevision("env/staging", "the stack")
    assert gitops.validate_environment("staging", K8S, given) == []


def test_a_stack_without_a_revision_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stacks = _stacks_with(tmp_path, "dev", "    revision: main\n", "")
    monkeypatch.setattr(gitops.tree, "STACKS_DIR", stacks)
    problem = gitops.stack_revision("dev")
    assert isinstance(problem, gitops.Problem)
    assert (problem.field, problem.message) == (
        "talos-platform:gitops.revision",
        "not set: the root Application needs the Git ref to follow",
    )


def test_the_offline_plan_catches_a_tree_that_moved_away_from_its_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, tree)
    revision = tree / "envs" / "prod" / "revision.yaml"
    revision.write_text(revision.read_text().replace("revision: env/prod", "revision: main"))
    monkeypatch.setattr(gitops.tree, "GITOPS_DIR", tree)
    problems = run_checks(document("prod"), K8S).problems
    # The platform's monitoring-config and etcd-backup name prod's ref in their own patches,
    # which now disagree with the tree's (tests/gitops/test_monitoring_stack.py).
    assert problems == [
        f"{tree / 'platform' / 'addons' / addon / 'application.yaml'}: Application "
        f"argocd/{addon}: spec.source.targetRevision: must be 'main' "
        "(gitops/envs/prod/revision.yaml), found 'env/prod' (set by the Application's patch in "
        "gitops/platform/envs/prod)"
        for addon in ("etcd-backup", "monitoring-config")
    ] + [
        f"{revision}: Application argocd/{app}: spec.source.targetRevision: follows 'main', "
        "but talos-platform:gitops.revision in the stack file (the root Application's "
        "targetRevision) is 'env/prod': the root and the Applications it creates must follow "
        "the same Git ref; change one of them"
        for app in ("platform", "podinfo")
    ]


def test_an_environment_without_a_revision_file_does_not_render(tmp_path: Path) -> None:
    tree = tmp_path / "gitops"
    shutil.copytree(gitops.GITOPS_DIR, tree)
    env = tree / "envs" / "prod"
    (env / "revision.yaml").unlink()
    kustomization = env / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - revision.yaml\n", ""))
    with pytest.raises(gitops.GitOpsError, match="gitops-revision"):
        gitops.render(env)


# --- A merge to main leaves prod where it was ---------------------------------------------------


def argo_view(repo: GitRepo, env: str, tmp_path: Path) -> dict[str, Any]:
    """What Argo CD in `env` applies: the root Application as `pulumi up` creates it from main's
    stack file, the branch it follows resolved on origin, then each child Application's ref
    resolved and its path rendered. Application name -> (commit, rendered objects)."""
    stack = yaml.safe_load(repo.git("show", f"origin/main:Pulumi.{env}.yaml"))
    gitops_config = stack["config"]["talos-platform:gitops"]
    root_commit = repo.remote_branch(gitops_config["revision"])
    root_tree = repo.checkout(root_commit, tmp_path / f"{env}-root-{root_commit[:12]}")
    view: dict[str, Any] = {"root": (root_commit, gitops.render(root_tree / gitops_config["path"]))}
    for app in view["root"][1]:
        if app["kind"] != "Application":
            continue
        source = app["spec"]["source"]
        commit = repo.remote_branch(source["targetRevision"])
        tree = repo.checkout(commit, tmp_path / f"{env}-{commit[:12]}")
        view[app["metadata"]["name"]] = (commit, gitops.render(tree / source["path"]))
    return view


def test_a_merge_that_changes_only_main_leaves_prod_applications_where_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path)
    repo = GitRepo(tmp_path / "repo")
    before = {env: argo_view(repo, env, tmp_path / "before") for env in REFS}

    # A merge to main that changes the shared base, every overlay's tag and every Application.
    repo.edit(
        "gitops/apps/podinfo/base/frontend.yaml",
        "imagePullPolicy: IfNotPresent",
        "imagePullPolicy: Always",
    )
    for env in REFS:
        overlay = repo.work / f"gitops/apps/podinfo/overlays/{env}/kustomization.yaml"
        overlay.write_text(re.sub(r"newTag: \S+", "newTag: 6.9.4", overlay.read_text()))
        # prod keeps its Applications in base/, shared with its clusters' overlays.
        folder = f"gitops/envs/{env}/base" if env == "prod" else f"gitops/envs/{env}"
        repo.edit(f"{folder}/podinfo.yaml", "revisionHistoryLimit: 10", "revisionHistoryLimit: 9")
    merged = repo.commit("a merge to main")
    after = {env: argo_view(repo, env, tmp_path / "after") for env in REFS}

    assert after["prod"] == before["prod"], "prod changed without its ref moving"
    assert after["staging"] == before["staging"]
    assert {commit for commit, _ in after["dev"].values()} == {merged}
    assert after["dev"]["podinfo"] != before["dev"]["podinfo"]

    # Promotion moves staging, then prod: only then does prod run the merge.
    root = ["--root", str(repo.work)]
    assert promote(["--from", "dev", "--to", "staging", "--revision", "--push", *root]) == 0
    repo.git("fetch", "-q", "origin")
    assert promote(["--from", "staging", "--to", "prod", "--revision", "--push", *root]) == 0
    promoted = argo_view(repo, "prod", tmp_path / "promoted")
    assert {commit for commit, _ in promoted.values()} == {merged}
    assert promoted["podinfo"] != before["prod"]["podinfo"]
