"""What the rendered Velero server and node agent say about the pods Velero starts at run time:
read here for the model of those pods (velero_pods.py) and for the check that names a node-agent
configuration Velero would not use (velero.py). As vmware-tanzu/velero v1.18.1 reads them:

- **the server and its node agent**: the Deployment and the DaemonSet whose container runs
  `/velero server` and `/velero node-agent server`, one pair per namespace, with their flags
  (`--node-agent-configmap`, `--repo-maintenance-job-configmap`,
  `--default-volumes-to-fs-backup`, read as pflag reads them: the last one wins);
- **the node agent's ConfigMap** (`--node-agent-configmap`; pkg/types/node_agent.go,
  `NodeAgentConfigs`), read as pkg/nodeagent/node_agent.go `GetConfigs` reads it: exactly one
  key, its value a JSON object; missing or unreadable, the node agent does not start;
- **`podResources`**, parsed as pkg/cmd/cli/nodeagent/server.go parses them with
  pkg/util/kube/resource_requirements.go, `ParseResourceRequirements`: all four must parse, a
  request must not exceed its limit, "0" is none; otherwise the section is ignored and the pods
  are BestEffort;
- **a maintenance Job's resources**: the `podResources` of the repository's key or `global` in
  the ConfigMap of the server's `--repo-maintenance-job-configmap` (pkg/repository/maintenance/
  maintenance.go, `getJobConfig`; none there: no requests).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .tree import RenderedObject

#: The velero binary's path in its image: how the server's Deployment and the node agent's
#: DaemonSet are recognised (their command), with their first arguments.
VELERO_COMMAND = ["/velero"]
SERVER_ARGS = ["server"]
NODE_AGENT_ARGS = ["node-agent", "server"]
NODE_AGENT_CONFIG_FLAG = "--node-agent-configmap="
MAINTENANCE_CONFIG_FLAG = "--repo-maintenance-job-configmap="
DEFAULT_FS_BACKUP_FLAG = "--default-volumes-to-fs-backup"
#: The maintenance ConfigMap's key for every repository (pkg/repository/maintenance,
#: getJobConfig).
GLOBAL_KEY = "global"


@dataclass(frozen=True)
class Velero:
    """A Velero server of the environment and its node agent: what their pods say."""

    namespace: str
    server: dict[str, Any]
    """The server's pod spec."""
    server_args: list[str]
    agent: dict[str, Any] | None
    """The node agent's pod spec (None: no node agent, no file-system backup)."""
    agent_args: list[str]


@dataclass(frozen=True)
class PodResources:
    """The resources of Velero's `podResources` (or why there are none)."""

    resources: dict[str, dict[str, str]]
    note: str


def _container(spec: dict[str, Any], args: list[str]) -> dict[str, Any] | None:
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        given = [str(a) for a in container.get("args") or []]
        if container.get("command") == VELERO_COMMAND and given[: len(args)] == args:
            return container
    return None


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}


def servers(rendered: dict[str, list[RenderedObject]]) -> list[Velero]:
    """Every Velero server Deployment of a rendered environment, with its namespace's node
    agent."""
    deployments, agents = [], {}
    for items in rendered.values():
        for item in items:
            manifest = item.manifest
            namespace = str((manifest.get("metadata") or {}).get("namespace") or "")
            spec = _pod_spec(manifest)
            if manifest.get("kind") == "Deployment":
                container = _container(spec, SERVER_ARGS)
                if container is not None:
                    deployments.append((namespace, spec, container))
            elif manifest.get("kind") == "DaemonSet":
                container = _container(spec, NODE_AGENT_ARGS)
                if container is not None:
                    agents[namespace] = (spec, container)
    found = []
    for namespace, spec, container in deployments:
        agent_spec, agent_container = agents.get(namespace, (None, None))
        found.append(
            Velero(
                namespace=namespace,
                server=spec,
                server_args=[str(a) for a in container.get("args") or []],
                agent=agent_spec,
                agent_args=[str(a) for a in (agent_container or {}).get("args") or []],
            )
        )
    return found


def _flag(args: list[str], prefix: str) -> str | None:
    values = [arg.removeprefix(prefix) for arg in args if arg.startswith(prefix)]
    return values[-1] if values else None


def _bool_flag(args: list[str], name: str) -> bool:
    """A boolean flag as pflag reads it: `--name`, `--name=true` (the last one wins)."""
    value = None
    for arg in args:
        if arg == name:
            value = True
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1].lower() in ("true", "1", "t")
    return bool(value)


def config_maps(rendered: dict[str, list[RenderedObject]], namespace: str) -> dict[str, dict]:
    """The ConfigMaps of `namespace` in the render, by name."""
    return {
        str(item.manifest["metadata"].get("name")): item.manifest
        for items in rendered.values()
        for item in items
        if item.manifest.get("kind") == "ConfigMap"
        and (item.manifest.get("metadata") or {}).get("namespace") == namespace
    }


def node_agent_config(
    velero: Velero, maps: dict[str, dict]
) -> tuple[dict[str, Any] | None, str | None]:
    """(the node agent's configuration, None) or (None, why there is none or it cannot be
    read), as pkg/nodeagent/node_agent.go `GetConfigs` reads it: the ConfigMap the node agent's
    `--node-agent-configmap` names, exactly one key, its value JSON. No flag: ({}, None)."""
    name = _flag(velero.agent_args, NODE_AGENT_CONFIG_FLAG)
    if not name:
        return {}, None
    configmap = maps.get(name)
    if configmap is None:
        return (
            None,
            f"--node-agent-configmap names ConfigMap {velero.namespace}/{name}, not rendered",
        )
    data = configmap.get("data") or {}
    if len(data) != 1:
        return (
            None,
            f"ConfigMap {velero.namespace}/{name} has {len(data)} keys: the node agent reads "
            "exactly one",
        )
    (text,) = data.values()
    try:
        config = json.loads(str(text))
    except ValueError as exc:
        return None, f"ConfigMap {velero.namespace}/{name} is no JSON: {exc}"
    if not isinstance(config, dict):
        return None, f"ConfigMap {velero.namespace}/{name} is no JSON object"
    return config, None


def parse_pod_resources(section: Any) -> PodResources:
    """Velero's `podResources` as a container's resources, the way
    pkg/util/kube/resource_requirements.go `ParseResourceRequirements` reads them: cpuRequest,
    memoryRequest, cpuLimit and memoryLimit (ephemeral storage "0" unless given) must each be a
    quantity, a request no larger than its limit unless the limit is "0"; a quantity of "0" is
    left unset. Otherwise nothing (the caller's default: BestEffort for a data mover)."""
    from ..scheduling.quantities import QuantityError, cpu_millis, memory_bytes

    if not isinstance(section, dict):
        return PodResources({}, "no podResources: BestEffort")
    fields = {
        ("requests", "cpu"): ("cpuRequest", cpu_millis),
        ("requests", "memory"): ("memoryRequest", memory_bytes),
        ("requests", "ephemeral-storage"): ("ephemeralStorageRequest", memory_bytes),
        ("limits", "cpu"): ("cpuLimit", cpu_millis),
        ("limits", "memory"): ("memoryLimit", memory_bytes),
        ("limits", "ephemeral-storage"): ("ephemeralStorageLimit", memory_bytes),
    }
    values: dict[tuple[str, str], tuple[str, int]] = {}
    for (part, resource), (key, parse) in fields.items():
        text = section.get(key)
        if resource == "ephemeral-storage" and not text:
            text = "0"  # constant.DefaultEphemeralStorage{Request,Limit}
        if not isinstance(text, str) or not _is_quantity(text):
            return PodResources(
                {}, f"podResources.{key} {text!r} is no quantity: ignored, BestEffort"
            )
        try:
            values[(part, resource)] = (text, parse(text))
        except QuantityError:
            return PodResources(
                {}, f"podResources.{key} {text!r} is no quantity: ignored, BestEffort"
            )
    for resource in ("cpu", "memory", "ephemeral-storage"):
        request, limit = values[("requests", resource)], values[("limits", resource)]
        if limit[1] != 0 and request[1] > limit[1]:
            return PodResources(
                {},
                f"podResources: {resource} request {request[0]!r} above its limit {limit[0]!r}: "
                "all ignored",
            )
    resources: dict[str, dict[str, str]] = {}
    for (part, resource), (text, amount) in values.items():
        if amount != 0:
            resources.setdefault(part, {})[resource] = text
    return PodResources(resources, "podResources")


#: Kubernetes' quantity grammar (k8s.io/apimachinery resource.ParseQuantity): an empty string is
#: none, unlike for the scheduling check's own parser, which reads numbers too.
_QUANTITY = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|m|[kMGTPE]i?)?$")


def _is_quantity(text: str) -> bool:
    return bool(_QUANTITY.match(text))


def _job_config(maps: dict[str, dict], name: str | None, key: str) -> PodResources:
    """The maintenance Job's resources for a repository key (pkg/repository/maintenance,
    getJobConfig): the key's podResources, else the global key's; none without the ConfigMap."""
    if not name or name not in maps:
        return PodResources({}, "no maintenance ConfigMap: no requests")
    data = maps[name].get("data") or {}
    for candidate in (key, GLOBAL_KEY):
        if candidate not in data:
            continue
        try:
            config = json.loads(str(data[candidate]))
        except ValueError:
            return PodResources({}, f"ConfigMap {name} key {candidate} is no JSON")
        if isinstance(config, dict) and config.get("podResources") is not None:
            # buildJob: a failed parse fails the Job's creation; counted as none here.
            return parse_pod_resources(config["podResources"])
    return PodResources({}, "no podResources: no requests")


def _container_image(spec: dict[str, Any], args: list[str]) -> str:
    container = _container(spec, args) or {}
    return str(container.get("image") or "")
