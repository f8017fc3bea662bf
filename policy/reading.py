"""Helpers that read a resource's type, URN and properties for the policies: paths into nested
inputs, the environment, pod specs and containers, image pins, Access and tunnel hostnames, and
credentials left in plain text.

Which environment a resource belongs to decides some rules. It is, in this order: the policy's
`environment` config (`pulumi preview --policy-pack-config`, or what the offline check passes), the
stack config `talos-platform:environment` when the engine hands config to the pack, then the stack
name in the resource's URN. An unknown name is treated as `prod` (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pulumi.runtime
from constants import (
    ADMIN_SERVICE,
    CONTAINER_LISTS,
    ENVIRONMENT_CONFIG_KEY,
    ENVIRONMENTS,
    POD_SPEC_PATHS,
    SECRET_KEY_SUFFIXES,
    SECRET_MARK,
    SECRET_REFERENCE,
    UNKNOWN_MARK,
    WHOLE_SECRET_KEYS,
)
from pulumi_policy import Secret, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _get(value: Any, *path: str | int) -> Any:
    """`value[path[0]][path[1]]...`, or None when any step is missing."""
    for step in path:
        if isinstance(step, int):
            if not _is_list(value) or step >= len(value):
                return None
        elif not _is_map(value) or step not in value:
            return None
        value = value[step]
    return value


def _as_list(value: Any) -> list[Any]:
    return list(value) if _is_list(value) else []


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment` (empty for non-Kubernetes types)."""
    parts = resource_type.split(":")
    return parts[-1] if parts[0] == "kubernetes" and len(parts) == 3 else ""


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::...` -> `<stack>`."""
    head = urn.split("::", 1)[0]
    return head.split(":", 2)[2] if head.count(":") >= 2 else ""


def _runtime_environment() -> str | None:
    try:
        value = pulumi.runtime.get_config(ENVIRONMENT_CONFIG_KEY)
    except Exception:  # outside the engine there may be no runtime settings at all
        return None
    return value if isinstance(value, str) and value else None


def environment_of(config: Mapping[str, Any], urn: str) -> str:
    """The environment a resource belongs to (see the module docstring); unknown -> `prod`."""
    name = config.get("environment") or _runtime_environment() or stack_of(urn)
    return name if name in ENVIRONMENTS else "prod"


def _stack_environment(args: StackValidationArgs) -> str:
    urn = args.resources[0].urn if args.resources else ""
    return environment_of(args.get_config(), urn)


def _label(resource_type: str, name: str) -> str:
    return f"{resource_type.rsplit(':', 1)[-1]} {name!r}"


def pod_specs(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The pod spec of a workload (with its path), if the resource is one."""
    path = POD_SPEC_PATHS.get(kind_of(resource_type))
    if path is None:
        return
    spec = _get(props, *path)
    if _is_map(spec):
        yield ".".join(path), spec


def containers(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in CONTAINER_LISTS:
        for index, container in enumerate(_as_list(_get(pod_spec, field))):
            if _is_map(container):
                yield f"{field}[{index}]", container


def image_problem(image: Any) -> str | None:
    """Why `image` is not pinned to a version, or None when it is."""
    if not isinstance(image, str) or not image:
        return "has no image"
    if "@" in image:
        return None if re.search(r"@sha256:[0-9a-f]{64}$", image) else "has a malformed digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (it would pull `latest`)"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        return "uses the `latest` tag"
    return None


def _host(pattern: str) -> tuple[str, str]:
    """`https://Host:443/path` -> (`host`, `/path`)."""
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", pattern.strip(), flags=re.IGNORECASE)
    host, _, path = value.partition("/")
    return host.split(":", 1)[0].lower().rstrip("."), "/" + path if path else ""


def covers(pattern: str, hostname: str) -> bool:
    """Whether an Access application domain (or destination URI) covers a whole hostname.

    `*.example.com` covers one more label (`argocd.example.com`, not `a.b.example.com`); a pattern
    with a path covers only that path, so it does not protect the hostname.
    """
    host, path = _host(pattern)
    if path not in ("", "/", "/*"):
        return False
    target = hostname.lower().rstrip(".")
    if host.startswith("*."):
        first, _, rest = target.partition(".")
        return bool(first) and rest == host[2:]
    return host == target


def access_patterns(props: Mapping[str, Any]) -> list[str]:
    """Every hostname pattern an Access application guards."""
    found: list[str] = []
    domain = _get(props, "domain")
    if isinstance(domain, str):
        found.append(domain)
    for item in _as_list(_get(props, "selfHostedDomains")):
        if isinstance(item, str):
            found.append(item)
    for destination in _as_list(_get(props, "destinations")):
        uri = _get(destination, "uri")
        kind = _get(destination, "type")
        if isinstance(uri, str) and kind in (None, "public"):
            found.append(uri)
    return found


def admin_hostnames(props: Mapping[str, Any]) -> list[str]:
    """Hostnames a tunnel config routes to the Argo CD server."""
    found = []
    for rule in _as_list(_get(props, "config", "ingresses")):
        hostname, service = _get(rule, "hostname"), _get(rule, "service")
        if isinstance(hostname, str) and isinstance(service, str) and ADMIN_SERVICE.match(service):
            found.append(hostname)
    return found


def is_secret(value: Any) -> bool:
    return isinstance(value, Secret) or value == SECRET_MARK


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == UNKNOWN_MARK


def _entries(value: Any) -> Iterator[tuple[str | int, Any]]:
    """Items of a mapping or list; values unknown during preview are skipped, not raised."""
    keys: Sequence[str | int] = list(value) if _is_map(value) else list(range(len(value)))
    for key in keys:
        try:
            yield key, value[key]
        except UnknownValueError:
            continue


def _names_credential(key: str, value: Any) -> bool:
    if key in WHOLE_SECRET_KEYS:
        return True
    return (
        isinstance(value, str)
        and key.endswith(SECRET_KEY_SUFFIXES)
        and not SECRET_REFERENCE.search(key)
    )


def plain_secrets(value: Any, path: str = "") -> Iterator[str]:
    """Paths of credentials in `value` that are not marked secret."""
    if is_secret(value) or not (_is_map(value) or _is_list(value)):
        return
    for key, item in _entries(value):
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
        if is_secret(item) or _blank(item):
            continue
        name = key.lower() if isinstance(key, str) else ""
        if _names_credential(name, item):
            yield where
        else:
            yield from plain_secrets(item, where)
