"""The plan as data: resources with their edges, the summary, and the JSON document."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Any

import yaml

from .run import ProgramRun


def provider_urn(reference: str) -> str:
    """A provider reference is `<urn>::<id>`; the graph wants the URN."""
    return reference.rsplit("::", 1)[0] if reference else ""


def resource_entries(run: ProgramRun) -> list[dict[str, Any]]:
    entries = []
    for r in run.registrations:
        deps = set(r.dependencies)
        for urns in r.property_dependencies.values():
            deps.update(urns)
        entries.append(
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "dependencies": sorted(deps),
                "provider": provider_urn(r.provider),
                "protect": r.protect,
                # What a reviewer (or `offline.diff`) needs to judge a change of this resource.
                "ignore_changes": r.ignore_changes,
                "replace_on_changes": r.replace_on_changes,
                "replacement_trigger": r.replacement_trigger,
                "replace_with": r.replace_with,
                "delete_before_replace": r.delete_before_replace,
                "retain_on_delete": r.retain_on_delete,
                "deleted_with": r.deleted_with,
                "aliases": r.aliases,
                "inputs": r.inputs,
                "secret_inputs": r.secret_inputs,
                "secret_digests": r.secret_digests,
                "id": r.id,
                **({"read": True} if r.read_id else {}),
            }
        )
    return entries


def edges(entries: list[dict[str, Any]]) -> dict[str, set[str]]:
    """For each resource, the resources it waits for: its dependencies and its provider."""
    known = {e["urn"] for e in entries}
    out: dict[str, set[str]] = {}
    for e in entries:
        waits = set(e["dependencies"])
        if e["provider"]:
            waits.add(e["provider"])
        out[e["urn"]] = {w for w in waits if w in known and w != e["urn"]}
    return out


def depths(entries: list[dict[str, Any]]) -> dict[str, int]:
    """For each resource, how many resources its longest chain of waits holds (itself included)."""
    graph = edges(entries)

    @cache
    def depth(urn: str) -> int:
        return 1 + max((depth(d) for d in graph[urn]), default=0)

    return {urn: depth(urn) for urn in graph}


def critical_path(entries: list[dict[str, Any]]) -> list[str]:
    """The longest chain of resources each waiting for the one before it."""
    graph = edges(entries)

    @cache
    def longest(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in sorted(graph[urn]):
            chain = longest(dep)
            if len(chain) > len(best):
                best = chain
        return (*best, urn)

    chains = [longest(u) for u in graph]
    return list(max(chains, key=len)) if chains else []


NODE_COMPONENT = "talos-platform:proxmox:NodeVm"
"""The component each cluster node has, named after the node."""
MACHINE_CONFIGURATION = "talos:machine/getConfiguration:getConfiguration"


def node_roles(doc: dict[str, Any]) -> dict[str, str]:
    """Each cluster node (a `NodeVm` component's name) and its role, `controlplane` or `worker`:
    the machine type its Talos configuration is rendered for (`node` when none names it)."""
    rendered: dict[str, str] = {}
    for call in doc.get("invokes", []):
        if call["token"] != MACHINE_CONFIGURATION:
            continue
        for text in call["args"].get("configPatches", []):
            patch = yaml.safe_load(text) if isinstance(text, str) else None
            if isinstance(patch, dict) and patch.get("kind") == "HostnameConfig":
                rendered[str(patch.get("hostname"))] = str(call["args"].get("machineType"))
    return {
        r["name"]: rendered.get(r["name"], "node")
        for r in doc["resources"]
        if r["type"] == NODE_COMPONENT
    }


def node_of(name: str, nodes: Iterable[str]) -> str | None:
    """The node a resource named `name` belongs to: the longest node name that is the whole name
    or stands in it between dashes (`upgrade-prod-worker-1`, not `upgrade-prod-worker-10`)."""
    found = [n for n in nodes if re.search(rf"(^|-){re.escape(n)}(-|$)", name)]
    return max(found, key=len) if found else None


def plan_document(run: ProgramRun) -> dict[str, Any]:
    """The plan as JSON-ready data, in a stable order (resources by URN, invokes by token and
    arguments): the program registers asynchronously, but two plans of one config are equal."""
    entries = sorted(resource_entries(run), key=lambda e: e["urn"])
    invokes = sorted(
        ({"token": i.token, "args": i.args} for i in run.invokes),
        key=lambda i: (i["token"], json.dumps(i["args"], sort_keys=True)),
    )
    return {
        "project": run.project,
        "stack": run.stack,
        "resources": entries,
        "invokes": invokes,
        "outputs": run.outputs,
        "summary": {
            "resources": len(entries),
            "by_type": dict(sorted(Counter(e["type"] for e in entries).items())),
            "critical_path": len(critical_path(entries)),
        },
    }
