"""What the Velero add-on's tests share (test_velero.py, test_velero_pods.py): the environments'
render keys and helpers to read the chart's objects, and to break its values on purpose and render
it again. The environments' renders themselves are the fixture `shipped` (conftest.py)."""

from __future__ import annotations

import copy
from typing import Any

from offline.validators import gitops
from offline.validators.gitops import RenderedObject, charts

ENVS = gitops.ENVIRONMENTS
K8S = "v1.36.2"
Rendered = dict[str, list[RenderedObject]]
CHART = "chart velero 12.1.0 (Application velero)"
VALUES = "spec.source.helm.valuesObject"


def of_kind(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o.manifest for o in rendered[CHART] if o.manifest["kind"] == kind]


def one(rendered: Rendered, kind: str) -> dict[str, Any]:
    (found,) = of_kind(rendered, kind)
    return found


def application(rendered: Rendered, name: str) -> RenderedObject:
    (found,) = [
        i
        for items in rendered.values()
        for i in items
        if i.manifest["kind"] == "Application" and i.manifest["metadata"]["name"] == name
    ]
    return found


def stack(env: str) -> gitops.StackPlatform:
    facts = gitops.stack_platform(env)
    assert isinstance(facts, gitops.StackPlatform)
    return facts


def redis_statefulset(rendered: Rendered) -> dict[str, Any]:
    (redis,) = [
        o.manifest
        for path, items in rendered.items()
        if path.startswith("gitops/apps/podinfo/")
        for o in items
        if o.manifest["kind"] == "StatefulSet" and o.manifest["metadata"]["name"] == "redis"
    ]
    return redis


def patched(shipped: dict[str, Rendered], env: str) -> tuple[Rendered, dict[str, Any]]:
    """A copy of the environment's render and the velero values in it, to break on purpose."""
    rendered = copy.deepcopy(shipped[env])
    values = application(rendered, "velero").manifest["spec"]["source"]["helm"]["valuesObject"]
    return rendered, values


def rerender(rendered: Rendered) -> Rendered:
    """The velero chart rendered again from the Application's (changed) values."""
    app = application(rendered, "velero").manifest
    (source,) = charts.helm_sources(app)
    rendered[source.key] = charts.render(source, K8S)
    return rendered
