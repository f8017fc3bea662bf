"""The platform's policies, as plain policy objects whose `validate` functions can be called
without a Pulumi engine (the offline plan does, through `offline/validators/policy_check.py`).

This module is self-contained on purpose: the Pulumi CLI runs the pack from this directory (it
imports it as `rules`), the offline plan loads it from its file. `PolicyPack(...)` lives only in
`__main__.py`, because constructing it starts a gRPC server and blocks.

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
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "talos-platform"
PACK_ENFORCEMENT = EnforcementLevel.MANDATORY
ENVIRONMENTS = ("dev", "staging", "prod")
ENVIRONMENT_CONFIG_KEY = "talos-platform:environment"
SECRET_MARK = "[secret]"
"""How the offline plan shows a secret value."""
UNKNOWN_MARK = "[unknown]"
"""How the offline plan shows a value that is only known after deployment."""

VM = "proxmoxve:index/vmLegacy:VmLegacy"
TALOS_SECRETS = "talos:machine/secrets:Secrets"
SERVICE = "kubernetes:core/v1:Service"
K8S_SECRET = "kubernetes:core/v1:Secret"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
ACCESS_APPLICATION = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
ARGO_APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
ARGO_APPLICATION_SET = "kubernetes:argoproj.io/v1alpha1:ApplicationSet"

PROTECTED_IN_PROD = (VM, TALOS_SECRETS)
QUORUM_ENVIRONMENTS = ("staging", "prod")
MIN_CONTROL_PLANES = 3
PROXIABLE_RECORD_TYPES = ("A", "AAAA", "CNAME")
ADMIN_SERVICE = re.compile(r"^[a-z][a-z0-9+.-]*://argocd-server\.", re.IGNORECASE)

#: Kubernetes kind -> where its pod spec sits.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

#: Inputs whose whole value is a credential, whatever its shape.
WHOLE_SECRET_KEYS = frozenset(
    {
        "kubeconfig",
        "talosconfig",
        "clientconfiguration",
        "machinesecrets",
        "machineconfigurationinput",
        "privatekey",
        "tunnelsecret",
    }
)
#: A string input whose key ends like this is a credential.
SECRET_KEY_SUFFIXES = ("token", "password", "passwd", "secret", "privatekey", "apikey")
#: ... unless it only names one (`existingSecret: argocd-secret`).
SECRET_REFERENCE = re.compile(r"^existing|(ref|name|names)$", re.IGNORECASE)

ENVIRONMENT_SCHEMA = PolicyConfigSchema(
    properties={
        "environment": {
            "type": "string",
            "enum": list(ENVIRONMENTS),
            "description": "the stack's environment, when neither its config nor its name says",
        }
    }
)
SECRETS_SCHEMA = PolicyConfigSchema(
    properties={
        **ENVIRONMENT_SCHEMA.properties,
        "secrets_marked": {
            "type": "boolean",
            "description": (
                "secret values arrive marked (as `[secret]` or `pulumi_policy.Secret`); only the "
                "offline plan can promise this"
            ),
        },
    }
)


# --- Helpers -----------------------------------------------------------------------------------


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


# --- Resource validations ----------------------------------------------------------------------


def validate_protected_in_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in PROTECTED_IN_PROD:
        return
    if environment_of(args.get_config(), args.urn) != "prod":
        return
    if not args.opts.protect:
        report(
            f"{_label(args.resource_type, args.name)} is not protected: in prod, create it with "
            "`protect=True` so that no `pulumi up` or `destroy` can delete or replace it",
            args.urn,
        )


def validate_no_exposed_services(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE:
        return
    kind = _get(args.props, "spec", "type")
    if kind in ("LoadBalancer", "NodePort"):
        report(
            f"Service {args.name!r} has spec.type {kind}: nothing is exposed on node addresses "
            "here; use ClusterIP and publish through the Cloudflare Tunnel",
            args.urn,
        )


def validate_no_host_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for spec_path, spec in pod_specs(args.resource_type, args.props):
        if _get(spec, "hostNetwork") is True:
            report(
                f"{_label(args.resource_type, args.name)}: {spec_path}.hostNetwork is true; pods "
                "must not listen on node addresses (publish through the Cloudflare Tunnel)",
                args.urn,
            )
        for where, container in containers(spec):
            for index, port in enumerate(_as_list(_get(container, "ports"))):
                host_port = _get(port, "hostPort")
                if host_port not in (None, 0):
                    report(
                        f"{_label(args.resource_type, args.name)}: "
                        f"{spec_path}.{where}.ports[{index}].hostPort is {host_port}; remove it "
                        "(publish through a ClusterIP Service and the Cloudflare Tunnel)",
                        args.urn,
                    )


def validate_pinned_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for spec_path, spec in pod_specs(args.resource_type, args.props):
        for where, container in containers(spec):
            image = _get(container, "image")
            problem = image_problem(image)
            if problem:
                report(
                    f"{_label(args.resource_type, args.name)}: {spec_path}.{where}.image "
                    f"{image!r} {problem}; pin a version tag (or a sha256 digest)",
                    args.urn,
                )


def validate_dns_proxied(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DNS_RECORD:
        return
    if _get(args.props, "type") not in PROXIABLE_RECORD_TYPES:
        return
    if _get(args.props, "proxied") is not True:
        report(
            f"DnsRecord {_get(args.props, 'name')!r} is not proxied: set `proxied=True` so "
            "traffic goes through Cloudflare (and Access) instead of straight to the origin",
            args.urn,
        )


def validate_argocd_automated_sync(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == ARGO_APPLICATION:
        spec_path: tuple[str, ...] = ("spec",)
    elif args.resource_type == ARGO_APPLICATION_SET:
        spec_path = ("spec", "template", "spec")
    else:
        return
    automated = _get(args.props, *spec_path, "syncPolicy", "automated")
    where = ".".join((*spec_path, "syncPolicy", "automated"))
    missing = [f for f in ("prune", "selfHeal") if _get(automated, f) is not True]
    if missing:
        report(
            f"{_label(args.resource_type, args.name)}: {where}."
            + " and ".join(missing)
            + " must be true, so that Git stays the only source of truth (drift is reverted, "
            "removed manifests are deleted)",
            args.urn,
        )


def validate_secrets_marked(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    if not config.get("secrets_marked"):
        args.not_applicable(
            "pulumi-policy 1.21.0 unwraps secret values before a policy sees them, so a secret "
            "and a plain value look the same here; the offline plan checks this rule instead"
        )
        return
    paths = list(plain_secrets(args.props))
    if args.resource_type == K8S_SECRET:
        for field in ("data", "stringData"):
            values = _get(args.props, field)
            if not _is_map(values):
                continue  # absent, or secret as a whole
            for key, value in _entries(values):
                if not is_secret(value) and not _blank(value):
                    paths.append(f"{field}.{key}")
    for path in sorted(set(paths)):
        report(
            f"{_label(args.resource_type, args.name)}: input {path} holds a credential in plain "
            "text; wrap it in `pulumi.Output.secret(...)` (or read it with "
            "`config.require_secret`) so it is encrypted in the state",
            args.urn,
        )


# --- Stack validations -------------------------------------------------------------------------


def _tags(resource: PolicyResource) -> list[str]:
    return [t for t in _as_list(_get(resource.props, "tags")) if isinstance(t, str)]


def validate_control_plane_quorum(args: StackValidationArgs, report: ReportViolation) -> None:
    environment = _stack_environment(args)
    if environment not in QUORUM_ENVIRONMENTS:
        return
    control_planes = 0
    for vm in (r for r in args.resources if r.resource_type == VM):
        tags = _tags(vm)
        if "talos" not in tags:
            continue
        if "controlplane" in tags:
            control_planes += 1
        elif "worker" not in tags:
            report(
                f"VmLegacy {vm.name!r} has tags {tags}: a Talos node is tagged "
                "['talos', <environment>, 'controlplane' | 'worker']",
                vm.urn,
            )
    if control_planes < MIN_CONTROL_PLANES:
        report(
            f"{environment} has {control_planes} control-plane VM(s); it needs at least "
            f"{MIN_CONTROL_PLANES} (etcd keeps quorum through the loss of one node only with three)"
        )


def _admin_hostnames_behind_access(
    args: StackValidationArgs, report: ReportViolation, environments: tuple[str, ...]
) -> None:
    if _stack_environment(args) not in environments:
        return
    patterns = [
        (p, r.name)
        for r in args.resources
        if r.resource_type == ACCESS_APPLICATION
        for p in access_patterns(r.props)
    ]
    for config in (r for r in args.resources if r.resource_type == TUNNEL_CONFIG):
        for hostname in admin_hostnames(config.props):
            if not any(covers(pattern, hostname) for pattern, _ in patterns):
                report(
                    f"{hostname} routes to the Argo CD server through tunnel config "
                    f"{config.name!r} but no ZeroTrustAccessApplication covers it (by `domain` "
                    "or `destinations`): put it behind Cloudflare Access",
                    config.urn,
                )


def validate_admin_behind_access(args: StackValidationArgs, report: ReportViolation) -> None:
    _admin_hostnames_behind_access(args, report, QUORUM_ENVIRONMENTS)


def validate_admin_behind_access_dev(args: StackValidationArgs, report: ReportViolation) -> None:
    _admin_hostnames_behind_access(args, report, ("dev",))


# --- The policies ------------------------------------------------------------------------------

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="protected-in-prod",
        description="Proxmox VMs and Talos machine secrets are protected in prod.",
        validate=validate_protected_in_prod,
        config_schema=ENVIRONMENT_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="no-exposed-services",
        description="No Kubernetes Service of type LoadBalancer or NodePort.",
        validate=validate_no_exposed_services,
    ),
    ResourceValidationPolicy(
        name="no-host-ports",
        description="No pod template uses hostPort or hostNetwork.",
        validate=validate_no_host_ports,
    ),
    ResourceValidationPolicy(
        name="pinned-images",
        description="Every container image in a pod template is pinned (a tag other than latest).",
        validate=validate_pinned_images,
    ),
    ResourceValidationPolicy(
        name="dns-proxied",
        description="Every Cloudflare A, AAAA and CNAME record is proxied.",
        validate=validate_dns_proxied,
    ),
    ResourceValidationPolicy(
        name="argocd-automated-sync",
        description="Argo CD Applications sync automatically with prune and selfHeal.",
        validate=validate_argocd_automated_sync,
    ),
    ResourceValidationPolicy(
        name="secrets-not-plain",
        description="Credentials (tokens, passwords, kubeconfigs, keys, Secret data) are secret.",
        validate=validate_secrets_marked,
        config_schema=SECRETS_SCHEMA,
    ),
]

STACK_POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(
        name="control-plane-quorum",
        description="Staging and prod run three or more Talos control-plane VMs.",
        validate=validate_control_plane_quorum,
        config_schema=ENVIRONMENT_SCHEMA,
    ),
    StackValidationPolicy(
        name="admin-behind-access",
        description="In staging and prod, every tunnel hostname of Argo CD is behind Access.",
        validate=validate_admin_behind_access,
        config_schema=ENVIRONMENT_SCHEMA,
    ),
    StackValidationPolicy(
        name="admin-behind-access-dev",
        description="In dev, every tunnel hostname of Argo CD should be behind Access.",
        validate=validate_admin_behind_access_dev,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=ENVIRONMENT_SCHEMA,
    ),
]

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    *RESOURCE_POLICIES,
    *STACK_POLICIES,
]


def enforcement_of(policy: ResourceValidationPolicy | StackValidationPolicy) -> EnforcementLevel:
    """The level a policy runs at in this pack (its own, else the pack's)."""
    return policy.enforcement_level or PACK_ENFORCEMENT
