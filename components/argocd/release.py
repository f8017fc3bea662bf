"""Argo CD: the Helm release, repository credentials, and the root application."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from config.models import Environment, GitOpsConfig

from .. import type_token
from ..kubernetes import register
from .root_app import (
    NAMESPACE,
    repository_secret_manifest,
    root_application_manifest,
    root_project_manifest,
)
from .values import CHART_REPO, argocd_values


def _secret(value: pulumi.Output[str] | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value)


@dataclass(frozen=True)
class ArgoCdArgs:
    environment: Environment
    chart_version: str
    external_url: str
    gitops: GitOpsConfig
    k8s_provider: pulumi.ProviderResource
    gitops_token: pulumi.Output[str] | None = None
    gitops_ssh_key: pulumi.Output[str] | None = None
    webhook_secret: pulumi.Output[str] | None = None
    """Shared secret of the Git host's push webhook (`webhook.github.secret` in argocd-secret)."""


class ArgoCd(pulumi.ComponentResource):
    """The argo-cd chart (pinned, atomic) and the app-of-apps that pulls everything else."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: ArgoCdArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("argocd", "ArgoCd"), name, {}, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        self.release = k8s.helm.v3.Release(
            name,
            name="argocd",
            chart="argo-cd",
            version=args.chart_version,
            repository_opts={"repo": CHART_REPO},
            namespace=NAMESPACE,
            create_namespace=True,
            atomic=True,
            cleanup_on_fail=True,
            timeout=900,
            max_history=10,
            values=argocd_values(
                args.environment, args.external_url, webhook_secret=_secret(args.webhook_secret)
            ),
            opts=in_cluster,
        )
        # The namespace and the CRDs come from the release: nothing in the data flow says so.
        after_release = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[self.release])
        )
        credentials: list[pulumi.Resource] = []
        if args.gitops_token is not None or args.gitops_ssh_key is not None:
            repository = register(
                f"{name}-repository",
                repository_secret_manifest(
                    args.gitops,
                    token=_secret(args.gitops_token),
                    ssh_key=_secret(args.gitops_ssh_key),
                ),
                after_release,
            )
            credentials.append(repository)
        project = register(
            f"{name}-root-project",
            root_project_manifest(args.environment, args.gitops),
            after_release,
        )
        self.root_application = register(
            f"{name}-root",
            root_application_manifest(args.environment, args.gitops),
            pulumi.ResourceOptions.merge(
                after_release,
                # A private repository: the first sync must find its credentials, or the root
                # starts in ComparisonError and waits out the retry backoff.
                pulumi.ResourceOptions(depends_on=[project, *credentials]),
            ),
        )
        self.register_outputs(
            {
                "chart_version": args.chart_version,
                "root_path": args.gitops.path,
                "url": args.external_url,
            }
        )
