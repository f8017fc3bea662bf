"""Every PodDisruptionBudget the platform ships must let a node drain.

`talosctl upgrade` (Talos 1.13) cordons and drains the node with the kubectl drain library: pods
go through the Eviction API, which honours PodDisruptionBudgets, and after `--drain-timeout`
(10m, components/talos/scripts.py) the upgrade fails and leaves the node cordoned. A budget that
allows no disruption for the replica count of its workload blocks every upgrade of every node
that runs one of its pods. So each budget, in each environment, must allow at least one.

Three places ship budgets, each checked against the workloads of the same place:

- the program itself (plan resources `kubernetes:policy/v1:PodDisruptionBudget`, cloudflared's),
  matched by selector to the plan's Deployments and StatefulSets in the same namespace;
- the argo-cd Helm release: `<component>.pdb` of its values against that component's replicas
  (`redis-ha.podDisruptionBudget` and `redis-ha.haproxy.podDisruptionBudget` when set);
- the GitOps tree the stack's root Application follows (`gitops/envs/<env>` and the folders its
  Applications follow), matched by selector to its Deployments and StatefulSets; an object
  without a namespace is in its Application's destination namespace, and a workload an
  HorizontalPodAutoscaler scales counts its `minReplicas`.

Allowed disruptions are computed as the disruption controller does with every pod healthy:
`replicas - minAvailable`, or `maxUnavailable`, percentages rounded up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import gitops

PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

WHY = (
    "`talosctl upgrade` drains each node and fails after --drain-timeout when no pod may be "
    "evicted, leaving the node cordoned"
)

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

_PERCENT = re.compile(r"(\d+)%")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Budget:
    """One PodDisruptionBudget as evaluated.

    `where` is the plan resource (`resource cloudflared-pdb`), the chart value
    (`argocd values: server.pdb`) or the rendered file (`gitops/apps/podinfo/base/frontend.yaml`);
    `name` names the budget, `setting` is what it keeps (`minAvailable: 1`), `replicas` the pods
    it covers, `workloads` what they belong to, `allowed` the disruptions it allows (None when it
    could not be evaluated) and `problem` why it blocks a drain (None when it does not).
    """

    where: str
    name: str
    setting: str
    replicas: int
    workloads: tuple[str, ...]
    allowed: int | None
    problem: str | None


@dataclass
class Report:
    """Every budget evaluated, and every problem (those of the budgets and any other)."""

    budgets: list[Budget] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, budgets: Iterable[Budget]) -> None:
        for budget in budgets:
            self.budgets.append(budget)
            if budget.problem:
                self.problems.append(budget.problem)


class NotUnderstoodError(ValueError):
    """A budget field this check cannot evaluate."""


# --- The rule ----------------------------------------------------------------------------------


def parse_amount(value: Any, key: str, *, numeric_strings: bool = False) -> int | str:
    """A minAvailable/maxUnavailable value: a whole number, or a percentage string (`"50%"`).

    `numeric_strings` accepts `"1"` as 1 (Helm writes values into templates unquoted).
    """
    if isinstance(value, bool):
        raise NotUnderstoodError(f"{key}: {value!r} is not a whole number or a percentage")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip()
        if _PERCENT.fullmatch(text):
            return text
        if numeric_strings and _NUMBER.fullmatch(text):
            return int(text)
    raise NotUnderstoodError(f"{key}: {value!r} is not a whole number or a percentage")


def _scaled(amount: int | str, replicas: int) -> int:
    """An amount against `replicas`; a percentage rounded up, as Kubernetes does for both
    minAvailable and maxUnavailable (`GetScaledValueFromIntOrPercent(..., roundUp=true)`)."""
    if isinstance(amount, int):
        return amount
    percent = int(amount[:-1])
    return -(-percent * replicas // 100)


def allowed_disruptions(key: str, amount: int | str, replicas: int) -> int:
    """Evictions a budget allows with all `replicas` pods healthy.

    `key` is `minAvailable` or `maxUnavailable`; `amount` a whole number or `"NN%"`.
    """
    if key == "minAvailable":
        return max(0, replicas - _scaled(amount, replicas))
    desired_healthy = max(0, replicas - _scaled(amount, replicas))
    return replicas - desired_healthy


def _advice(key: str, amount: int | str, replicas: int) -> str:
    if key == "minAvailable":
        keeps = _scaled(amount, replicas)
        if isinstance(amount, str) and amount == "100%":
            return "use maxUnavailable: 1 instead"
        return f"run at least {keeps + 1} replicas, or use maxUnavailable: 1 instead"
    return "set maxUnavailable: 1 (or more)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def judge(
    where: str,
    name: str,
    key: str,
    amount: int | str,
    replicas: int,
    workloads: tuple[str, ...],
    setting: str | None = None,
) -> Budget:
    """Evaluate one budget that covers `replicas` pods of `workloads`."""
    setting = setting or f"{key}: {amount}"
    allowed = allowed_disruptions(key, amount, replicas)
    problem = None
    if replicas > 0 and allowed == 0:
        problem = (
            f"{where}: {name} ({setting}) allows no disruption of the "
            f"{_plural(replicas, 'pod')} of {', '.join(workloads)}: {WHY}; "
            f"{_advice(key, amount, replicas)}"
        )
    return Budget(where, name, setting, replicas, workloads, allowed, problem)


def _not_understood(where: str, name: str, reason: str) -> Budget:
    problem = (
        f"{where}: {name}: {reason}; this check cannot tell whether it lets a node drain ({WHY})"
    )
    return Budget(where, name, "?", 0, (), None, problem)


# --- Kubernetes objects (plan resources and the GitOps tree) -----------------------------------


@dataclass(frozen=True)
class Placed:
    """A manifest, the namespace it lands in, and where it comes from (for messages)."""

    manifest: dict[str, Any]
    namespace: str
    where: str


def selector_matches(selector: Any, labels: dict[str, Any]) -> bool:
    """Whether a policy/v1 label selector selects pods with `labels`.

    No selector selects nothing; an empty one selects every pod. matchExpressions with In,
    NotIn, Exists and DoesNotExist are understood; anything else raises NotUnderstoodError.
    """
    if selector is None:
        return False
    if not isinstance(selector, dict):
        raise NotUnderstoodError(f"spec.selector: {selector!r} is not a label selector")
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        at = f"spec.selector.matchExpressions[{index}]"
        if not isinstance(expression, dict):
            raise NotUnderstoodError(f"{at}: {expression!r} is not understood")
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In":
            matched = key in labels and labels[key] in values
        elif operator == "NotIn":
            matched = key not in labels or labels[key] not in values
        elif operator == "Exists":
            matched = key in labels
        elif operator == "DoesNotExist":
            matched = key not in labels
        else:
            raise NotUnderstoodError(f"{at}.operator: {operator!r} is not understood")
        if not matched:
            return False
    return True


def _pod_labels(manifest: dict[str, Any]) -> dict[str, Any]:
    template = (manifest.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def _name(manifest: dict[str, Any]) -> str:
    return str((manifest.get("metadata") or {}).get("name", "<unnamed>"))


def _replicas(workload: Placed, hpas: list[Placed]) -> tuple[int, str]:
    """The pods a workload runs at least, and where that number comes from."""
    kind, name = workload.manifest.get("kind"), _name(workload.manifest)
    for hpa in hpas:
        target = (hpa.manifest.get("spec") or {}).get("scaleTargetRef") or {}
        if (
            hpa.namespace == workload.namespace
            and target.get("kind") == kind
            and target.get("name") == name
        ):
            minimum = (hpa.manifest.get("spec") or {}).get("minReplicas", 1)
            source = f"minReplicas of HorizontalPodAutoscaler {hpa.namespace}/{_name(hpa.manifest)}"
            return int(minimum), source
    replicas = (workload.manifest.get("spec") or {}).get("replicas")
    if replicas is None:
        return 1, "spec.replicas unset"
    return int(replicas), "spec.replicas"


def _setting(spec: dict[str, Any]) -> tuple[str, int | str, str]:
    """(key, amount, text) of a policy/v1 PodDisruptionBudget spec."""
    has_min = spec.get("minAvailable") is not None
    has_max = spec.get("maxUnavailable") is not None
    if has_min and has_max:
        raise NotUnderstoodError(
            "sets both minAvailable and maxUnavailable, which the API server rejects"
        )
    if has_max:
        amount = parse_amount(spec["maxUnavailable"], "spec.maxUnavailable")
        return "maxUnavailable", amount, f"maxUnavailable: {amount}"
    if has_min:
        amount = parse_amount(spec["minAvailable"], "spec.minAvailable")
        return "minAvailable", amount, f"minAvailable: {amount}"
    # policy/v1 defaulting: a budget with neither keeps one pod available.
    return "minAvailable", 1, "minAvailable: 1 (the default when neither is set)"


def kubernetes_budgets(objects: list[Placed]) -> list[Budget]:
    """Evaluate each PodDisruptionBudget among `objects` against the Deployments and
    StatefulSets among them in its namespace whose pod template its selector selects."""
    pdbs = [o for o in objects if o.manifest.get("kind") == "PodDisruptionBudget"]
    workloads = [o for o in objects if o.manifest.get("kind") in WORKLOAD_KINDS]
    hpas = [o for o in objects if o.manifest.get("kind") == "HorizontalPodAutoscaler"]
    budgets = []
    for pdb in pdbs:
        name = f"PodDisruptionBudget {pdb.namespace}/{_name(pdb.manifest)}"
        spec = pdb.manifest.get("spec") or {}
        try:
            key, amount, setting = _setting(spec)
            selector = spec.get("selector")
            selected = [
                w
                for w in workloads
                if w.namespace == pdb.namespace
                and selector_matches(selector, _pod_labels(w.manifest))
            ]
        except NotUnderstoodError as exc:
            budgets.append(_not_understood(pdb.where, name, str(exc)))
            continue
        if not selected:
            shown = json.dumps(selector, sort_keys=True) if selector is not None else "none"
            problem = (
                f"{pdb.where}: {name} ({setting}) selects no Deployment or StatefulSet in "
                f"namespace {pdb.namespace} (selector {shown}): it protects nothing, probably a "
                "typo in its selector or namespace; make spec.selector match the workload's "
                "spec.template.metadata.labels, or remove it"
            )
            budgets.append(Budget(pdb.where, name, setting, 0, (), None, problem))
            continue
        total, described = 0, []
        for workload in selected:
            count, source = _replicas(workload, hpas)
            total += count
            described.append(
                f"{workload.manifest['kind']} {workload.namespace}/{_name(workload.manifest)} "
                f"({count}, {source})"
            )
        budgets.append(judge(pdb.where, name, key, amount, total, tuple(described), setting))
    return budgets


# --- The plan's own objects --------------------------------------------------------------------


def _plan_manifest(resource: dict[str, Any]) -> dict[str, Any] | None:
    token = resource["type"]
    if not token.startswith("kubernetes:") or token.startswith("kubernetes:helm.sh"):
        return None
    kind = token.rsplit(":", 1)[-1]
    return {**(resource.get("inputs") or {}), "kind": kind}


def plan_budgets(doc: dict[str, Any]) -> list[Budget]:
    """The PodDisruptionBudgets the program creates, against its Deployments and StatefulSets."""
    objects = []
    for resource in doc["resources"]:
        manifest = _plan_manifest(resource)
        if manifest is None:
            continue
        namespace = (manifest.get("metadata") or {}).get("namespace") or "default"
        objects.append(Placed(manifest, str(namespace), f"resource {resource['name']}"))
    return kubernetes_budgets(objects)


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
    component = values.get(key) or {}
    autoscaling = component.get("autoscaling") or {}
    if autoscaling.get("enabled"):
        return int(autoscaling.get("minReplicas", 1)), f"{key}.autoscaling.minReplicas"
    if "replicas" in component:
        return int(component["replicas"]), f"{key}.replicas"
    return 1, f"{key}.replicas unset"


def _component_enabled(values: dict[str, Any], key: str) -> bool:
    component = values.get(key) or {}
    if component.get("enabled", True) is False:
        return False
    return not (key == "redis" and (values.get("redis-ha") or {}).get("enabled"))


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
        pdb = (values.get(key) or {}).get("pdb") or {}
        if not pdb.get("enabled") or not _component_enabled(values, key):
            continue
        where, name = f"{release}: {key}.pdb", f"the {key} PodDisruptionBudget of {chart}"
        try:
            budget_key, amount, setting = _chart_setting(pdb, f"{key}.pdb")
        except NotUnderstoodError as exc:
            budgets.append(_not_understood(where, name, str(exc)))
            continue
        replicas, source = _component_replicas(values, key)
        workload = f"the {key} {kind} ({replicas}, {source})"
        budgets.append(judge(where, name, budget_key, amount, replicas, (workload,), setting))
    redis_ha = values.get("redis-ha") or {}
    if redis_ha.get("enabled"):
        haproxy = redis_ha.get("haproxy") or {}
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
            except NotUnderstoodError as exc:
                budgets.append(_not_understood(where, name, str(exc)))
                continue
            replicas = int(part.get("replicas", REDIS_HA_DEFAULT_REPLICAS))
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
    or None when it has none or follows no `gitops/envs/<env>` (checks.gitops_tree says so)."""
    root = _root_application(doc)
    if root is None:
        return None
    spec = root["inputs"].get("spec") or {}
    path = str((spec.get("source") or {}).get("path", ""))
    env = path.rsplit("/", 1)[-1]
    if not path.startswith("gitops/envs/") or env not in gitops.ENVIRONMENTS:
        return None
    namespace = (spec.get("destination") or {}).get("namespace") or "default"
    return env, str(namespace)


def gitops_budgets(
    rendered: dict[str, list[gitops.RenderedObject]], default_namespace: str
) -> list[Budget]:
    """The budgets of a rendered environment (`gitops._render_environment`), against its
    Deployments and StatefulSets. An object without a namespace is in the destination namespace
    of the Application that follows its folder (`default_namespace` for the environment folder,
    which the root Application follows)."""
    folder_namespace: dict[str, str] = {}
    for items in rendered.values():
        for item in items:
            if item.manifest.get("kind") != "Application":
                continue
            spec = item.manifest.get("spec") or {}
            destination = (spec.get("destination") or {}).get("namespace")
            for source in gitops._sources(item.manifest):
                try:
                    relative = gitops._local_source_path(source)
                except gitops.GitOpsError:
                    continue
                if relative is not None and destination:
                    folder_namespace.setdefault(relative, str(destination))
    objects = []
    for folder, items in rendered.items():
        fallback = folder_namespace.get(folder, default_namespace)
        for item in items:
            namespace = (item.manifest.get("metadata") or {}).get("namespace") or fallback
            objects.append(Placed(item.manifest, str(namespace), item.origin))
    return kubernetes_budgets(objects)


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
