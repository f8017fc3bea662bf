"""Argo CD: the Helm release, repository credentials, and the root application."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from config.models import Environment, GitOpsConfig

from .. import type_token
from ..kubernetes import namespace_patch_manifest, patch, pod_security_labels, register
from .notifications import check_format
from .notifications import secret_manifest as notifications_secret_manifest
from .root_app import (
    NAMESPACE,
    repository_secret_manifest,
    root_application_manifest,
    root_project_manifest,
)
from .sso import ArgoCdLogin
from .sso import secret_manifest as oidc_secret_manifest
from .values import CHART_REPO, argocd_values

POD_SECURITY = "restricted"
"""Every pod of the release meets the restricted Pod Security Standard (the chart's
securityContexts, redis-ha's included: tests/offline/test_pod_security_namespaces.py)."""


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
    notifications_url: pulumi.Output[str] | None = None
    """Where Argo CD notifications go (the URL carries the receiver's token); None: no
    notifications controller at all."""
    notifications_format: str = "webhook"
    """The receiver's payload: "slack", "discord" (their incoming webhooks) or "webhook" (JSON)."""
    login: ArgoCdLogin | None = None
    """SSO and RBAC; None: the local admin account only (dev without `argocd_sso`)."""
    root_waits_for: list[pulumi.Resource] = field(default_factory=list)
    """What the tree's first sync needs from the program besides Argo CD (the CSI plugin's
    namespace and credentials): the root Application is created after it."""


class ArgoCd(pulumi.ComponentResource):
    """The argo-cd chart (pinned, atomic) and the app-of-apps that pulls everything else."""

    release: k8s.helm.v3.Release
    namespace_pod_security: pulumi.CustomResource
    """The Pod Security labels of `argocd` (a NamespacePatch: the release creates it)."""
    notifications_secret: pulumi.CustomResource | None
    """`argocd-notifications-secret`, with the receiver's URL; None without notifications."""
    oidc_secret: pulumi.CustomResource | None
    """The Secret holding the OIDC client secret; None without SSO."""

    def __init__(self, name: str, args: ArgoCdArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("argocd", "ArgoCd"), name, {}, opts)
        notifications = (
            None if args.notifications_url is None else check_format(args.notifications_format)
        )
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
                args.environment,
                args.external_url,
                webhook_secret=_secret(args.webhook_secret),
                notifications=notifications,
                login=args.login,
            ),
            opts=in_cluster,
        )
        # The namespace and the CRDs come from the release: nothing in the data flow says so.
        after_release = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[self.release])
        )
        # The release creates the namespace (`create_namespace`), and an existing cluster has it
        # already: a server-side apply patch adds the Pod Security labels to it, where a
        # Namespace resource would fail "already exists".
        self.namespace_pod_security = patch(
            f"{name}-namespace-pod-security",
            namespace_patch_manifest(NAMESPACE, pod_security_labels(POD_SECURITY)),
            after_release,
        )
        first_sync: list[pulumi.Resource] = []
        """What the root Application's first sync reads besides the release."""
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
            first_sync.append(repository)
        self.notifications_secret = None
        if args.notifications_url is not None:
            # The receiver's URL, outside the Helm values (they would print it, or all become
            # secret). After the release: the namespace is the release's, and the empty Secret
            # of this name the chart made before (`notifications.secret.create`, its default)
            # is deleted by the release's upgrade before this one is created.
            self.notifications_secret = register(
                f"{name}-notifications",
                notifications_secret_manifest(_secret(args.notifications_url)),
                after_release,
            )
            # The first sync's notifications find their receiver (the controller would pick the
            # Secret up later too, but send to the bare `$notifications-url` until then).
            first_sync.append(self.notifications_secret)
        self.oidc_secret = None
        if args.login is not None and args.login.client_secret is not None:
            # Outside the Helm values, like the notifications URL; `oidc.config` names it
            # (`$argocd-oidc-cloudflare:clientSecret`). Until it exists, SSO logins fail and
            # argocd-server reads it as soon as it appears (it watches Secrets labelled
            # part-of argocd).
            self.oidc_secret = register(
                f"{name}-oidc",
                oidc_secret_manifest(pulumi.Output.secret(args.login.client_secret)),
                after_release,
            )
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
                pulumi.ResourceOptions(depends_on=[project, *first_sync, *args.root_waits_for]),
            ),
        )
        self.register_outputs(
            {
                "chart_version": args.chart_version,
                "root_path": args.gitops.path,
                "url": args.external_url,
                "notifications": notifications or "off",
                "pod_security": POD_SECURITY,
                "sso": bool(args.login and args.login.sso),
                "local_admin": args.login.local_admin if args.login else True,
            }
        )
