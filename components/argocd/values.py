"""Values for the argo-cd Helm chart, per environment.

Every key here exists in the chart's values.yaml (or is free-form there): the tests check
them with `offline.validators.helm_values.unknown_keys`, because the chart has no schema and
Helm ignores keys it does not know. docs/gitops.md explains the choices (reconciliation
timing, HA in prod).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .notifications import notifier_values
from .sso import ArgoCdLogin, cm_values, rbac_values

CHART_NAME = "argo-cd"
CHART_VERSION = "10.1.1"
ARGOCD_VERSION = "v3.4.4"
CHART_REPO = "https://argoproj.github.io/argo-helm"

#: The images the chart runs, by digest (the multi-arch index: what Renovate pins), keyed by
#: `repository:tag`: Argo CD's own, set on each component (not `global.image.tag`, which the
#: chart also writes into every `app.kubernetes.io/version` label), and Redis at the chart's
#: default tag (upstream/charts/argo-cd/values.yaml `redis.image` and `redis-ha.image`).
#: Provenance: tests/gitops/test_image_digests.py; redis-ha's HAProxy is not pinned
#: (gitops/unpinned-images.yaml).
ARGOCD_REPOSITORY = "quay.io/argoproj/argocd"
REDIS_REPOSITORY = "ecr-public.aws.com/docker/library/redis"
REDIS_TAG = "8.2.3-alpine"
IMAGE_DIGESTS = {
    "quay.io/argoproj/argocd:v3.4.4": (
        "sha256:2fb3efa9eaa42382acb39c9a1485eaac7a1ad7a09e8aa7da7143ca256fa6da09"
    ),
    "ecr-public.aws.com/docker/library/redis:8.2.3-alpine": (
        "sha256:08ad0b1d280850169a790dba1393ff7a90aef951fc19632cf4d3ce4f78e679ba"
    ),
}


def pinned_tag(repository: str, tag: str) -> str:
    """`tag@sha256:...` for an image of IMAGE_DIGESTS, else `tag` (which the digest test
    refuses: a version moved without its digest)."""
    digest = IMAGE_DIGESTS.get(f"{repository}:{tag}")
    return f"{tag}@{digest}" if digest else tag


def _argocd_image() -> dict[str, str]:
    return {"tag": pinned_tag(ARGOCD_REPOSITORY, ARGOCD_VERSION)}


Environment = Literal["dev", "staging", "prod"]

#: How often Argo CD looks at Git without a webhook, and the random delay it adds to spread the
#: load: a commit is seen within 20 s + up to 10 s. With the rollout of podinfo (a few seconds
#: per batch) a `git revert` is live in under a minute; see docs/gitops.md.
RECONCILIATION_TIMEOUT = "20s"
RECONCILIATION_JITTER = "10s"

#: The health of a child `argoproj.io/Application` is the health it reports. Argo CD 1.8 removed
#: this assessment from its defaults, and an object without a health assessment succeeds as soon
#: as it is applied (argo-cd v3.4.4 gitops-engine/pkg/sync/sync_context.go: "some objects ... do
#: not have health, and they automatically success"), so an app-of-apps' sync waves would not
#: wait for the child Applications of an earlier wave (the platform before the apps) to be
#: healthy. The Lua is the one Argo CD documents for that case: argo-cd v3.4.4
#: docs/operator-manual/health.md ("Argocd App") and docs/operator-manual/upgrading/1.7-1.8.md
#: (argoproj/argo-cd #3781).
APPLICATION_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
APPLICATION_HEALTH_LUA = """\
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container (Kubernetes quantities)."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def values(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class Sizing:
    """Replica counts and resources of Argo CD's components in one environment."""

    ha: bool
    server_replicas: int
    repo_server_replicas: int
    application_set_replicas: int
    controller: Resources
    server: Resources
    repo_server: Resources
    application_set: Resources
    notifications: Resources
    redis: Resources
    small: Resources  # init containers, secret-init job, sentinel, haproxy


_SMALL = Resources("10m", "32Mi", "100m", "64Mi")
#: A component's liveness and readiness probes, where the chart has them off by default.
PROBES: dict[str, Any] = {"livenessProbe": {"enabled": True}, "readinessProbe": {"enabled": True}}

SIZING: dict[Environment, Sizing] = {
    "dev": Sizing(
        ha=False,
        server_replicas=1,
        repo_server_replicas=1,
        application_set_replicas=1,
        controller=Resources("100m", "256Mi", "1", "512Mi"),
        server=Resources("25m", "64Mi", "500m", "256Mi"),
        repo_server=Resources("50m", "128Mi", "1", "512Mi"),
        application_set=Resources("10m", "64Mi", "250m", "128Mi"),
        notifications=Resources("10m", "32Mi", "100m", "64Mi"),
        redis=Resources("10m", "32Mi", "250m", "128Mi"),
        small=_SMALL,
    ),
    "staging": Sizing(
        ha=False,
        server_replicas=1,
        repo_server_replicas=1,
        application_set_replicas=1,
        controller=Resources("250m", "512Mi", "1", "1Gi"),
        server=Resources("50m", "128Mi", "500m", "256Mi"),
        repo_server=Resources("100m", "256Mi", "1", "1Gi"),
        application_set=Resources("25m", "64Mi", "250m", "256Mi"),
        notifications=Resources("10m", "32Mi", "100m", "128Mi"),
        redis=Resources("25m", "64Mi", "250m", "256Mi"),
        small=_SMALL,
    ),
    "prod": Sizing(
        ha=True,
        server_replicas=2,
        repo_server_replicas=2,
        application_set_replicas=2,
        controller=Resources("500m", "1Gi", "2", "2Gi"),
        server=Resources("100m", "128Mi", "1", "512Mi"),
        repo_server=Resources("250m", "256Mi", "2", "1Gi"),
        application_set=Resources("50m", "128Mi", "500m", "256Mi"),
        notifications=Resources("25m", "64Mi", "200m", "128Mi"),
        redis=Resources("100m", "128Mi", "500m", "512Mi"),
        small=_SMALL,
    ),
}


def _hostname(external_url: str) -> str:
    parts = urlsplit(external_url)
    if parts.scheme != "https" or not parts.hostname or parts.path not in {"", "/"}:
        raise ValueError(
            f"external_url must be https://<hostname> (the tunnel's public address), "
            f"got {external_url!r}"
        )
    return parts.hostname


def _pdb(enabled: bool) -> dict[str, Any]:
    return {"enabled": enabled, "minAvailable": 1} if enabled else {"enabled": False}


def argocd_values(
    env: Environment,
    external_url: str,
    webhook_secret: object = None,
    notifications: str | None = None,
    login: ArgoCdLogin | None = None,
) -> dict[str, Any]:
    """Values for the argo-cd chart in `env`, served at `external_url` through the tunnel.

    `global.domain` is the URL's hostname, `configs.cm.url` the URL itself (without a trailing
    slash). TLS ends at
    Cloudflare, so argocd-server speaks plain HTTP inside the cluster (`server.insecure`).
    Prod runs two of each stateless component, PodDisruptionBudgets and Redis HA
    (three Redis + Sentinel pods and three HAProxy pods, one per worker: the chart's hard
    anti-affinity needs three schedulable nodes). One application controller everywhere: more
    replicas only shard clusters, and each stack manages one.

    `notifications` is the receiver's format (`notifications.notifier_values`); None turns the
    notifications controller off, and with it the chart's notifications ConfigMap, Secret, RBAC
    and Deployment (upstream/charts/argo-cd/templates/argocd-notifications/*.yaml and
    argocd-configs/argocd-notifications-{cm,secret}.yaml render only with
    `notifications.enabled`; the VPA only with `notifications.vpa.enabled`, off by default).

    `login` is SSO and RBAC (`sso.py`); None keeps the local admin and no SSO (dev's default).
    """
    if env not in SIZING:
        raise ValueError(f"unknown environment {env!r}: expected one of {', '.join(SIZING)}")
    sizing = SIZING[env]
    hostname = _hostname(external_url)
    return {
        "global": {
            "domain": hostname,
            "logging": {"format": "json", "level": "debug" if env == "dev" else "info"},
        },
        "configs": {
            "cm": {
                "url": external_url.rstrip("/"),
                "timeout.reconciliation": RECONCILIATION_TIMEOUT,
                "timeout.reconciliation.jitter": RECONCILIATION_JITTER,
                "exec.enabled": False,
                **cm_values(login or ArgoCdLogin(local_admin=True)),
                APPLICATION_HEALTH_KEY: APPLICATION_HEALTH_LUA,
            },
            "rbac": rbac_values(login or ArgoCdLogin(local_admin=True)),
            "params": {
                "server.insecure": True,
                # At debug (dev's global level, which the chart gives every component:
                # upstream/charts/argo-cd/templates/_helpers.tpl, `argo-cd.config.params`, where
                # these params win) the controller dumps each request it sends, the receiver's
                # URL and token included (notifications-engine pkg/util/http/logroundtripper.go).
                **({"notificationscontroller.log.level": "info"} if notifications else {}),
            },
            # Git pushes announced by a webhook (POST /api/webhook) are verified with this
            # shared secret; the chart writes it to argocd-secret as webhook.github.secret.
            **({"secret": {"githubSecret": webhook_secret}} if webhook_secret is not None else {}),
        },
        # Each component's metrics Service (not the chart's ServiceMonitors: their CRD comes
        # later, with the monitoring add-on); gitops/platform/monitoring selects them.
        "controller": {
            "image": _argocd_image(),
            "replicas": 1,
            "resources": sizing.controller.values(),
            "pdb": _pdb(False),
            "metrics": {"enabled": True},
        },
        "server": {
            "image": _argocd_image(),
            "replicas": sizing.server_replicas,
            "resources": sizing.server.values(),
            "pdb": _pdb(sizing.ha),
            # Reached only through the Cloudflare Tunnel connector.
            "service": {"type": "ClusterIP"},
            "metrics": {"enabled": True},
        },
        "repoServer": {
            "image": _argocd_image(),
            "replicas": sizing.repo_server_replicas,
            "resources": sizing.repo_server.values(),
            "copyutil": {"resources": sizing.small.values()},
            "pdb": _pdb(sizing.ha),
            "metrics": {"enabled": True},
        },
        "applicationSet": {
            "image": _argocd_image(),
            "replicas": sizing.application_set_replicas,
            "resources": sizing.application_set.values(),
            "pdb": _pdb(sizing.ha),
            "metrics": {"enabled": True},
            # The chart's probes (a TCP connect to the `probe` port), off by default
            # (upstream/charts/argo-cd/values.yaml `applicationSet.livenessProbe.enabled`).
            **PROBES,
        },
        "notifications": (
            {"enabled": False}
            if notifications is None
            else {
                "enabled": True,
                "image": _argocd_image(),
                "resources": sizing.notifications.values(),
                "metrics": {"enabled": True},
                **notifier_values(notifications, env, external_url),
            }
        ),
        # SSO goes straight to Cloudflare Access (`oidc.config`): no Dex in between.
        "dex": {"enabled": False},
        "redis": {
            "enabled": not sizing.ha,
            "image": {"tag": pinned_tag(REDIS_REPOSITORY, REDIS_TAG)},
            "resources": sizing.redis.values(),
            # The chart's probes (its /health scripts: `redis-cli ping`), off by default.
            **PROBES,
            # Redis never calls the Kubernetes API: no token in its pod.
            "automountServiceAccountToken": False,
        },
        "redisSecretInit": {"image": _argocd_image(), "resources": sizing.small.values()},
        "redis-ha": {
            "enabled": sizing.ha,
            "image": {"tag": pinned_tag(REDIS_REPOSITORY, REDIS_TAG)},
            "redis": {"resources": sizing.redis.values()},
            "sentinel": {"resources": sizing.small.values()},
            # The init containers (config-init of the Redis and HAProxy pods) and the
            # split-brain-fix container have no resources in the chart (redis-ha values.yaml
            # `init.resources`, `haproxy.init.resources`, `splitBrainDetection.resources`: {}).
            "init": {"resources": sizing.small.values()},
            "splitBrainDetection": {"resources": sizing.small.values()},
            "haproxy": {
                "resources": sizing.small.values(),
                "init": {"resources": sizing.small.values()},
                # Three HAProxy pods with required anti-affinity on three nodes leave no node
                # for a surge pod: the default surge (25 %) stalls every rollout
                # (DandyDeveloper/charts #249, argoproj/argo-cd #16627). Replace one pod at a
                # time instead; the other two keep serving.
                "deploymentStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
                },
            },
        },
    }
