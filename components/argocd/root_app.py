"""The app-of-apps: the root Application each stack points at its environment's GitOps path, and
the AppProject that fences it in (it may only create Argo CD objects in the `argocd` namespace)."""

from __future__ import annotations

from config.models import GitOpsConfig

from ..kubernetes import Manifest

NAMESPACE = "argocd"
ROOT_APPLICATION = "root"
REPOSITORY_SECRET = "gitops-repository"


def root_project_name(environment: str) -> str:
    return f"{environment}-root"


def root_project_manifest(environment: str, gitops: GitOpsConfig) -> Manifest:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": root_project_name(environment), "namespace": NAMESPACE},
        "spec": {
            "description": f"The {environment} app-of-apps: Argo CD objects only, from one repo",
            "sourceRepos": [gitops.repo_url],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": NAMESPACE}],
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": [
                {"group": "argoproj.io", "kind": "Application"},
                {"group": "argoproj.io", "kind": "AppProject"},
                {"group": "argoproj.io", "kind": "ApplicationSet"},
            ],
        },
    }


def root_application_manifest(environment: str, gitops: GitOpsConfig) -> Manifest:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": ROOT_APPLICATION,
            "namespace": NAMESPACE,
            # Deleting the root deletes the applications it created, and theirs.
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": root_project_name(environment),
            "source": {
                "repoURL": gitops.repo_url,
                "targetRevision": gitops.revision,
                "path": gitops.path,
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": NAMESPACE},
            "revisionHistoryLimit": 10,
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                # Forever (a limit below 0, argo-cd docs/operator-manual/application.yaml), the
                # wait capped at 3 minutes: a wave that is not healthy yet (the platform while
                # metrics-server waits for its first approved kubelet certificate) fails the
                # root's sync, and after a limited number of retries Argo CD would not sync that
                # revision again by itself.
                "retry": {
                    "limit": -1,
                    "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"},
                },
            },
        },
    }


def repository_secret_manifest(
    gitops: GitOpsConfig, token: object = None, ssh_key: object = None
) -> Manifest:
    """Repository credentials as Argo CD reads them: a Secret labelled as a repository, holding
    an HTTPS token (as the password) or an SSH deploy key."""
    credentials = (
        {"sshPrivateKey": ssh_key}
        if ssh_key is not None
        else {"username": "git", "password": token}
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": REPOSITORY_SECRET,
            "namespace": NAMESPACE,
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "type": "Opaque",
        "stringData": {"type": "git", "url": gitops.repo_url, **credentials},
    }
