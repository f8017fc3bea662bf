"""Where budgets come from: the plan's own objects, the argo-cd Helm release values and the
GitOps tree the stack's root Application follows; and the check over all three."""

from __future__ import annotations

import json
from typing import Any

from .. import gitops
from .objects import Placed, _map, _setting, kubernetes_budgets
from .rule import (
    Budget,
    NotUnderstoodError,
    Report,
    _not_understood,
    judge,
    parse_amount,
    whole_number,
)

PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

#: argo-cd chart components with a `pdb` value: values key -> kind of the workload.
#: Each one's replica count is `<key>.replicas` (the chart's default 1; dex, redis and
#: notifications always run one pod), or `<key>.autoscaling.minReplicas` with autoscaling on.
ARGOCD_COMPONENTS: dict[str, str] = {
    "controller": "StatefulSet",
    "server": "Deployment",
    "repoServer": "Deployment",
    "applicationSet": "Deployment",
    "notifications": "Deployment",
    "dex": "Deployment",
    "redis": "Deployment",
}
#: Replicas of the redis-ha subchart's Redis StatefulSet and HAProxy Deployment by default.
REDIS_HA_DEFAULT_REPLICAS = 3


# --- The plan's own objects --------------------------------------------------------------------


def _plan_manifest(resource: dict[str, Any]) -> dict[str, Any] | None:
    token = resource["type"]
    if not token.startswith("kubernetes:") or token.startswith("kubernetes:helm.sh"):
        return None
    kind = token.rsplit(":", 1)[-1]
    return {**(resource.get("inputs") or {}), "kind": kind}


def plan_objects(doc: dict[str, Any]) -> list[Placed]:
    """The Kubernetes objects the program creates (plan resources `kubernetes:*`), placed."""
    objects = []
    for resource in doc["resources"]:
        manifest = _plan_manifest(resource)
        if manifest is None:
            continue
        namespace = (manifest.get("metadata") or {}).get("namespace") or "default"
        objects.append(Placed(manifest, str(namespace), f"resource {resource['name']}"))
    return objects


def plan_budgets(doc: dict[str, Any]) -> list[Budget]:
    """The PodDisruptionBudgets the program creates, against its Deployments and StatefulSets."""
    return kubernetes_budgets(plan_objects(doc))


# --- The argo-cd Helm release ------------------------------------------------------------------


def _chart_setting(pdb: dict[str, Any], prefix: str) -> tuple[str, int | str, str]:
    """What the argo-cd chart's pdb templates render: `maxUnavailable` when set and not empty,
    else `minAvailable | default 0` (so an unset or empty minAvailable keeps nothing)."""
    max_unavailable = pdb.get("maxUnavailable")
    if max_unavailable is not None and str(max_unavailable) != "":
        key, value = "maxUnavailable", max_unavailable
    else:
        key, value = "minAvailable", pdb.get("minAvailable") or 0
    amount = parse_amount(value, f"{prefix}.{key}", numeric_strings=True)
    return key, amount, f"{key}: {amount}"


def _component_replicas(values: dict[str, Any], key: str) -> tuple[int, str]:
    component = _map(values.get(key), key)
    autoscaling = _map(component.get("autoscaling"), f"{key}.autoscaling")
    if autoscaling.get("enabled"):
        at = f"{key}.autoscaling.minReplicas"
        return whole_number(autoscaling.get("minReplicas", 1), at), at
    if "replicas" in component:
        return whole_number(component["replicas"], f"{key}.replicas"), f"{key}.replicas"
    return 1, f"{key}.replicas unset"


def _component_enabled(values: dict[str, Any], key: str) -> bool:
    component = _map(values.get(key), key)
    if component.get("enabled", True) is False:
        return False
    return not (key == "redis" and _map(values.get("redis-ha"), "redis-ha").get("enabled"))


def release_budgets(resource: dict[str, Any]) -> list[Budget]:
    """The budgets an argo-cd Helm release renders, from its values."""
    inputs = resource.get("inputs") or {}
    if inputs.get("chart") != "argo-cd":
        return []
    values = inputs.get("values") or {}
    if isinstance(values, str):
        values = json.loads(values)
    release = f"{resource['name']} values"
    chart = f"{inputs.get('chart')} {inputs.get('version')}"
    budgets = []
    for key, kind in ARGOCD_COMPONENTS.items():
        where, name = f"{release}: {key}.pdb", f"the {key} PodDisruptionBudget of {chart}"
        try:
            pdb = _map(_map(values.get(key), key).get("pdb"), f"{key}.pdb")
            if not pdb.get("enabled") or not _component_enabled(values, key):
                continue
            budget_key, amount, setting = _chart_setting(pdb, f"{key}.pdb")
            replicas, source = _component_replicas(values, key)
        except NotUnderstoodError as exc:
            budgets.append(_not_understood(where, name, str(exc)))
            continue
        workload = f"the {key} {kind} ({replicas}, {source})"
        budgets.append(judge(where, name, budget_key, amount, replicas, (workload,), setting))
    try:
        redis_ha = _map(values.get("redis-ha"), "redis-ha")
        haproxy = _map(redis_ha.get("haproxy"), "redis-ha.haproxy")
    except NotUnderstoodError as exc:
        where, name = f"{release}: redis-ha", f"the redis-ha PodDisruptionBudgets of {chart}"
        return [*budgets, _not_understood(where, name, str(exc))]
    if redis_ha.get("enabled"):
        parts = [("redis-ha", redis_ha, "StatefulSet")]
        if haproxy.get("enabled", True):
            parts.append(("redis-ha.haproxy", haproxy, "Deployment"))
        for prefix, part, kind in parts:
            pdb = part.get("podDisruptionBudget")
            if not pdb:
                continue
            where = f"{release}: {prefix}.podDisruptionBudget"
            name = f"the {prefix} PodDisruptionBudget of {chart}"
            try:
                if not isinstance(pdb, dict):
                    raise NotUnderstoodError(f"{pdb!r} is not a PodDisruptionBudget spec")
                budget_key, amount, setting = _setting(pdb)
                default = REDIS_HA_DEFAULT_REPLICAS
                replicas = whole_number(part.get("replicas", default), f"{prefix}.replicas")
            except NotUnderstoodError as exc:
                budgets.append(_not_understood(where, name, str(exc)))
                continue
            source = f"{prefix}.replicas" if "replicas" in part else f"{prefix}.replicas unset"
            workload = f"the {prefix} {kind} ({replicas}, {source})"
            budgets.append(judge(where, name, budget_key, amount, replicas, (workload,), setting))
    return budgets


# --- The GitOps tree ---------------------------------------------------------------------------


def _root_application(doc: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in doc["resources"]
            if r["type"] == "kubernetes:argoproj.io/v1alpha1:Application"
            and r["name"].endswith("-root")
        ),
        None,
    )


def stack_environment(doc: dict[str, Any]) -> tuple[str, str] | None:
    """(environment, namespace of the root's destination) the stack's root Application follows,
    or None when it has none or follows no `gitops/envs/<env>` (checks.gitops_tree says so). The
    environment is the tree's root: of a cluster's overlay, `<env>/clusters/<cluster>`
    (`gitops._render_environment` renders either)."""
    root = _root_application(doc)
    if root is None:
        return None
    spec = root["inputs"].get("spec") or {}
    path = str((spec.get("source") or {}).get("path", ""))
    env = gitops.root_of_path(path)
    if env is None:
        return None
    namespace = (spec.get("destination") or {}).get("namespace") or "default"
    return env, str(namespace)


def gitops_objects(
    rendered: dict[str, list[gitops.RenderedObject]], default_namespace: str
) -> list[Placed]:
    """The objects of a rendered environment (`gitops._render_environment`), placed: an object
    without a namespace is in the destination namespace of the Application that follows its
    folder (`default_namespace` for the environment folder, which the root Application follows)."""
    folder_namespace = gitops.folder_namespaces(rendered)
    objects = []
    for folder, items in rendered.items():
        fallback = folder_namespace.get(folder, default_namespace)
        for item in items:
            namespace = (item.manifest.get("metadata") or {}).get("namespace") or fallback
            objects.append(Placed(item.manifest, str(namespace), item.origin))
    return objects


def gitops_budgets(
    rendered: dict[str, list[gitops.RenderedObject]], default_namespace: str
) -> list[Budget]:
    """The budgets of a rendered environment (`gitops._render_environment`), against its
    Deployments and StatefulSets (namespaces as `gitops_objects` places them)."""
    return kubernetes_budgets(gitops_objects(rendered, default_namespace))


# --- The check ---------------------------------------------------------------------------------


def evaluate(
    doc: dict[str, Any], rendered: dict[str, list[gitops.RenderedObject]] | None = None
) -> Report:
    """Evaluate every budget of a plan document: its own objects, the argo-cd release and the
    GitOps tree its root Application follows (rendered unless `rendered` is given)."""
    report = Report()
    report.add(plan_budgets(doc))
    for resource in doc["resources"]:
        if resource["type"] == RELEASE_TYPE:
            report.add(release_budgets(resource))
    environment = stack_environment(doc)
    if environment is None:
        return report
    env, root_namespace = environment
    if rendered is None:
        try:
            rendered = gitops._render_environment(env)
        except gitops.GitOpsError as exc:
            report.problems.append(f"PodDisruptionBudgets of gitops/envs/{env} not checked: {exc}")
            return report
    report.add(gitops_budgets(rendered, root_namespace))
    return report


def disruption_problems(
    doc: dict[str, Any], rendered: dict[str, list[gitops.RenderedObject]] | None = None
) -> list[str]:
    """Each PodDisruptionBudget of the plan that would block `talosctl upgrade`'s drain (allows
    no disruption), selects no workload, or cannot be evaluated."""
    return evaluate(doc, rendered).problems
