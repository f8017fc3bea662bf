"""Platform rules: for each object (`object_rules`) and for the objects of an environment
together (`environment_rules`), as Argo CD would admit them at sync time."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import charts, tree
from .rendering import _local_source_path, _sources
from .schemas import describe, json_path
from .tree import (
    ARGOCD_API_VERSION,
    ARGOCD_KINDS,
    CLUSTER_SCOPED_KINDS,
    GITOPS_REPO_URL,
    IN_CLUSTER_SERVER,
    Problem,
    RenderedObject,
    _relative,
    environment_revision,
)


def _pod_spec(manifest: dict[str, Any]) -> tuple[list[str | int], dict[str, Any]] | None:
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return ["spec"], spec
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return ["spec", "template", "spec"], (spec.get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        pod = (job.get("template") or {}).get("spec") or {}
        return ["spec", "jobTemplate", "spec", "template", "spec"], pod
    return None


def image_tag_problem(image: str) -> str | None:
    """Why an image reference is not pinned (no tag, or `latest`); None if it is."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag: pin a version"
    if last.split(":", 1)[1] == "latest":
        return f"image {image!r} uses the tag 'latest': pin a version"
    return None


#: The pod settings that reach into the node: its network namespace (and with it ports on the
#: node's addresses), its process and IPC namespaces.
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


@dataclass(frozen=True)
class HostAccess:
    """Host access the platform rules forbid, allowed to one workload of one platform add-on
    (an Application of project `platform` in `gitops/platform/envs/<env>`), and why. Never for
    an app: the apps' Applications are not add-ons, and their project is the environment's."""

    application: str
    kind: str
    namespace: str
    name: str
    fields: frozenset[str]
    """Of `HOST_NAMESPACES` and `hostPort`."""
    reason: str


HOST_ACCESS = (
    HostAccess(
        application="kube-prometheus-stack",
        kind="DaemonSet",
        namespace="node-exporter",
        name="node-exporter",
        fields=frozenset({"hostNetwork", "hostPID"}),
        reason=(
            "node-exporter reports on the node itself: the node's network interfaces and "
            "sockets are only visible in the host's network namespace, its processes only in "
            "the host's PID namespace (prometheus-node-exporter chart 4.56.1 "
            "templates/daemonset.yaml, `hostNetwork`, `hostPID`; Prometheus scrapes its port "
            "9100 on the node's address); it runs alone in the namespace `node-exporter`, "
            "Pod Security `privileged` for it, so that `monitoring` enforces `baseline` "
            "(components/monitoring/alerting.py)"
        ),
    ),
)


def object_rules(
    manifest: dict[str, Any], allowed: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """Platform rules for one object, as (field, message) pairs.

    Nothing is exposed except through the Cloudflare Tunnel: no LoadBalancer or NodePort
    Service, no hostPort, and no pod shares the node's namespaces (hostNetwork, hostPID,
    hostIPC). Images carry a pinned tag (not `latest`). Every Application syncs automatically
    with prune and selfHeal, so Git is what runs. `allowed`: the host access of `HOST_ACCESS`
    granted to this very object (`host_access`).
    """
    found: list[tuple[str, str]] = []
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Service" and spec.get("type") in {"LoadBalancer", "NodePort"}:
        message = f"Service type {spec['type']} is not allowed: use ClusterIP and the tunnel"
        found.append(("spec.type", message))
    pod = _pod_spec(manifest)
    if pod is not None:
        prefix, pod_spec = pod
        for setting in HOST_NAMESPACES:
            if pod_spec.get(setting) and setting not in allowed:
                found.append((json_path([*prefix, setting]), f"{setting} is not allowed"))
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for index, container in enumerate(pod_spec.get(group) or []):
                at = [*prefix, group, index]
                problem = image_tag_problem(str(container.get("image", "")))
                if problem:
                    found.append((json_path([*at, "image"]), problem))
                for port_index, port in enumerate(container.get("ports") or []):
                    if port.get("hostPort") and "hostPort" not in allowed:
                        field = json_path([*at, "ports", port_index, "hostPort"])
                        found.append((field, "hostPort is not allowed"))
    if kind == "Application" and manifest.get("apiVersion") == ARGOCD_API_VERSION:
        automated = (spec.get("syncPolicy") or {}).get("automated") or {}
        for key in ("prune", "selfHeal"):
            if automated.get(key) is not True:
                found.append(
                    (f"spec.syncPolicy.automated.{key}", f"automated sync needs {key}: true")
                )
        if automated.get("enabled") is False:
            found.append(("spec.syncPolicy.automated.enabled", "automated sync is switched off"))
    return found


def _rule_problems(item: RenderedObject, allowed: frozenset[str] = frozenset()) -> list[Problem]:
    name = describe(item.manifest)
    return [
        Problem(item.origin, name, field, message)
        for field, message in object_rules(item.manifest, allowed)
    ]


def host_access_problems(env: str, rendered: dict[str, list[RenderedObject]]) -> list[Problem]:
    """Each `HOST_ACCESS` grant no wider than its object needs: an add-on of the environment
    whose charts render no such object, or an object that does not use a granted setting, is
    named (the grant is then stale: narrow it in offline/validators/gitops/rules.py)."""
    problems = []
    granted = host_access(env, rendered)
    objects = {id(o): o for items in rendered.values() for o in items}
    for rule in HOST_ACCESS:
        app = next(
            (
                item
                for item in rendered.get(tree.platform_path(env), [])
                if item.manifest.get("kind") == "Application"
                and (item.manifest.get("metadata") or {}).get("name") == rule.application
            ),
            None,
        )
        if app is None:
            continue  # the add-on does not run here
        target = f"{rule.kind} {rule.namespace}/{rule.name}"
        matched = [objects[key] for key in granted if key in objects]
        matched = [o for o in matched if describe(o.manifest) == target]
        if not matched:
            problems.append(
                Problem(
                    app.origin,
                    describe(app.manifest),
                    "spec.source",
                    f"host access granted to {target} (offline/validators/gitops/rules.py, "
                    "HOST_ACCESS), which its charts no longer render: update the grant",
                )
            )
        for obj in matched:
            forbidden = [message for _, message in object_rules(obj.manifest)]
            used = {s for s in rule.fields if any(m.startswith(f"{s} is") for m in forbidden)}
            for setting in sorted(rule.fields - used):
                problems.append(
                    Problem(
                        obj.origin,
                        target,
                        setting,
                        "granted by HOST_ACCESS (offline/validators/gitops/rules.py) but not "
                        "used: remove it from the grant",
                    )
                )
    return problems


def host_access(env: str, rendered: dict[str, list[RenderedObject]]) -> dict[int, frozenset[str]]:
    """The host access `HOST_ACCESS` grants in a rendered environment, by `id()` of the rendered
    object: only objects that the named add-on's charts render (an Application of project
    `platform` in the environment's platform folder), of exactly that kind, namespace and name."""
    granted: dict[int, frozenset[str]] = {}
    platform = rendered.get(tree.platform_path(env), [])
    for item in platform:
        app = item.manifest
        name = (app.get("metadata") or {}).get("name")
        if (
            app.get("kind") != "Application"
            or (app.get("spec") or {}).get("project") != tree.PLATFORM_PROJECT
        ):
            continue
        for rule in HOST_ACCESS:
            if rule.application != name:
                continue
            for source in charts.helm_sources(app):
                for obj in rendered.get(source.key, []):
                    metadata = obj.manifest.get("metadata") or {}
                    if (
                        obj.manifest.get("kind"),
                        metadata.get("namespace"),
                        metadata.get("name"),
                    ) == (
                        rule.kind,
                        rule.namespace,
                        rule.name,
                    ):
                        granted[id(obj)] = granted.get(id(obj), frozenset()) | rule.fields
    return granted


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _permits(rules: list[dict[str, Any]], group: str, kind: str) -> bool:
    return any(
        rule.get("group") in {group, "*"} and rule.get("kind") in {kind, "*"} for rule in rules
    )


def projects_of(rendered: dict[str, list[RenderedObject]]) -> dict[str, RenderedObject]:
    """Every AppProject the environment creates (in any folder it renders), by name."""
    return {
        str(item.manifest["metadata"]["name"]): item
        for items in rendered.values()
        for item in items
        if item.manifest.get("kind") == "AppProject" and item.manifest.get("metadata")
    }


def environment_rules(env: str, rendered: dict[str, list[RenderedObject]]) -> list[Problem]:
    """Rules that tie an environment's objects together.

    Each app Application is in project `<env>`, targets the in-cluster server, and follows
    `gitops/apps/<app>/overlays/<env>` of this repository. The AppProject `<env>` exists, takes
    sources only from this repository, and admits each object its Applications deploy (kind
    whitelisted, namespace among its destinations), as Argo CD would check at sync time. The
    Application that follows `gitops/platform/...` is the platform app-of-apps
    (`_platform_application_problems`); its add-ons have rules of their own (addons.py).
    Of a cluster's overlay root (`prod/clusters/prod-b`), the same with its environment's project
    and app overlays, at the overlay's ref.
    """
    env_key = _relative(tree.GITOPS_DIR / "envs" / env)
    env_objects = rendered.get(env_key, [])
    problems: list[Problem] = []
    environment = tree.environment_of(env)
    project = projects_of({env_key: env_objects}).get(environment)
    if project is None:
        problems.append(
            Problem(env_key, f"AppProject argocd/{environment}", "metadata.name", "missing")
        )
    else:
        repos = (project.manifest.get("spec") or {}).get("sourceRepos") or []
        if repos != [GITOPS_REPO_URL]:
            problems.append(
                Problem(
                    project.origin,
                    describe(project.manifest),
                    "spec.sourceRepos",
                    f"must be exactly [{GITOPS_REPO_URL!r}], found {repos!r}",
                )
            )
    for item in env_objects:
        app = item.manifest
        if app.get("kind") != "Application":
            continue
        if _follows_platform(app):
            problems += _platform_application_problems(env, item, rendered)
        else:
            problems += _application_problems(env, item, project, rendered)
    return problems


def _follows_platform(app: dict[str, Any]) -> bool:
    return any(
        str(source.get("path", "")).strip("/").startswith("gitops/platform/")
        for source in _sources(app)
    )


def _source_problems(
    env: str, app: dict[str, Any], pattern: str, expected: str, add: Callable[[str, str], None]
) -> list[dict[str, Any]]:
    """Each source is this repository at the root's ref (the environment's, or a cluster
    overlay's), at a path matching `pattern` (`expected` says it in words); returns the
    sources."""
    spec = app.get("spec") or {}
    revision = environment_revision(env)
    sources = _sources(app)
    for index, source in enumerate(sources):
        field = "spec.source" if spec.get("source") and index == 0 else f"spec.sources[{index}]"
        if source.get("repoURL") != GITOPS_REPO_URL:
            add(f"{field}.repoURL", f"must be {GITOPS_REPO_URL!r}")
        if source.get("targetRevision") != revision:
            add(
                f"{field}.targetRevision",
                f"must be {revision!r} ({tree.root_path(env)}/revision.yaml), "
                f"found {source.get('targetRevision')!r}",
            )
        path = str(source.get("path", "")).strip("/")
        if not re.fullmatch(pattern, path):
            add(f"{field}.path", f"must be {expected}, found {path!r}")
    return sources


Add = Callable[[str, str], None]


def application_checks(
    item: RenderedObject, project: str
) -> tuple[dict[str, Any], list[Problem], Add]:
    """What every Application of the tree is held to, as (spec, problems, add): in `project`,
    deploying to the in-cluster server; `add(field, message)` records a further problem."""
    app = item.manifest
    name = describe(app)
    spec = app.get("spec") or {}
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(item.origin, name, field, message))

    if spec.get("project") != project:
        add("spec.project", f"must be {project!r}, found {spec.get('project')!r}")
    if (spec.get("destination") or {}).get("server") != IN_CLUSTER_SERVER:
        add("spec.destination.server", f"must be {IN_CLUSTER_SERVER!r}")
    return spec, problems, add


def _platform_application_problems(
    env: str, item: RenderedObject, rendered: dict[str, list[RenderedObject]]
) -> list[Problem]:
    """The platform app-of-apps: in the root's project `<env>-root` (which admits only Argo CD
    objects in `argocd`, components/argocd/root_app.py), following `gitops/platform/envs/<env>`
    (of a cluster's overlay root, the cluster's add-on values: `tree.platform_path`) of this
    repository at the root's ref into `argocd`; everything in that folder must be an Argo CD
    object in `argocd`, or the root's project refuses it at sync time."""
    app = item.manifest
    spec, problems, add = application_checks(item, tree.root_project(env))
    destination = spec.get("destination") or {}
    if destination.get("namespace") != tree.ARGOCD_NAMESPACE:
        add("spec.destination.namespace", f"must be {tree.ARGOCD_NAMESPACE!r}")
    platform = tree.platform_path(env)
    sources = _source_problems(env, app, re.escape(platform), platform, add)
    for source in sources:
        for obj in rendered.get(_local_source_path(source) or "", []):
            problems += _root_admission_problems(env, obj)
    return problems


def _root_admission_problems(env: str, item: RenderedObject) -> list[Problem]:
    manifest = item.manifest
    name = describe(manifest)
    root = tree.root_project(env)
    problems = []
    if manifest.get("apiVersion") != ARGOCD_API_VERSION or manifest.get("kind") not in ARGOCD_KINDS:
        problems.append(
            Problem(item.origin, name, "kind", f"not an Argo CD kind: project {root!r} refuses it")
        )
    namespace = (manifest.get("metadata") or {}).get("namespace")
    if namespace not in (None, tree.ARGOCD_NAMESPACE):
        message = f"not {tree.ARGOCD_NAMESPACE!r}: project {root!r} refuses it"
        problems.append(Problem(item.origin, name, "metadata.namespace", message))
    return problems


def _application_problems(
    env: str,
    item: RenderedObject,
    project: RenderedObject | None,
    rendered: dict[str, list[RenderedObject]],
) -> list[Problem]:
    app = item.manifest
    environment = tree.environment_of(env)
    spec, problems, add = application_checks(item, environment)
    destination = spec.get("destination") or {}
    overlay = rf"gitops/apps/[a-z0-9-]+/overlays/{re.escape(environment)}"
    expected = f"gitops/apps/<app>/overlays/{environment}"
    sources = _source_problems(env, app, overlay, expected, add)
    if project is None:
        return problems
    project_spec = project.manifest.get("spec") or {}
    for source in sources:
        relative = _local_source_path(source)
        for obj in rendered.get(relative or "", []):
            problems += _admission_problems(obj, destination, project_spec)
    return problems


def _admission_problems(
    item: RenderedObject, destination: dict[str, Any], project_spec: dict[str, Any]
) -> list[Problem]:
    """What Argo CD refuses at sync time: a kind the project does not whitelist, a namespace
    that is not one of its destinations (an object without one is in the Application's)."""
    manifest = item.manifest
    name = describe(manifest)
    kind = str(manifest.get("kind", ""))
    group = _group(str(manifest.get("apiVersion", "")))
    if kind in CLUSTER_SCOPED_KINDS:
        if not _permits(project_spec.get("clusterResourceWhitelist") or [], group, kind):
            return [Problem(item.origin, name, "kind", "cluster-scoped kind not whitelisted")]
        return []
    problems = []
    if not _permits(project_spec.get("namespaceResourceWhitelist") or [], group, kind):
        message = "kind not in the project's namespaceResourceWhitelist"
        problems.append(Problem(item.origin, name, "kind", message))
    namespace = (manifest.get("metadata") or {}).get("namespace") or destination.get("namespace")
    server = destination.get("server")
    destinations = {
        (entry.get("server"), entry.get("namespace"))
        for entry in project_spec.get("destinations") or []
    }
    if (server, namespace) not in destinations and (server, "*") not in destinations:
        problems.append(
            Problem(item.origin, name, "metadata.namespace", "not a destination of the project")
        )
    return problems
