"""The resource policies' `validate` functions: each sees one resource (type, inputs, options)
and reports what breaks a rule of the platform."""

from __future__ import annotations

import json

from constants import (
    API_TOKENS,
    ARGO_APPLICATION,
    ARGO_APPLICATION_SET,
    ARGOCD_CHART,
    DNS_RECORD,
    HELM_RELEASE,
    K8S_SECRET,
    PROTECTED_IN_PROD,
    PROXIABLE_RECORD_TYPES,
    R2_BUCKET_RESOURCE,
    R2_ITEM_PERMISSION_GROUPS,
    SERVICE,
    SSO_ENVIRONMENTS,
)
from pulumi_policy import ReportViolation, ResourceValidationArgs
from reading import (
    _as_list,
    _blank,
    _entries,
    _get,
    _is_map,
    _label,
    containers,
    environment_of,
    image_problem,
    is_secret,
    plain_secrets,
    pod_specs,
)


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


def validate_argocd_sso_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """In staging and prod the argo-cd release has no local admin and logs in through OIDC."""
    if args.resource_type != HELM_RELEASE or _get(args.props, "chart") != ARGOCD_CHART:
        return
    if environment_of(args.get_config(), args.urn) not in SSO_ENVIRONMENTS:
        return
    cm = _get(args.props, "values", "configs", "cm")
    problems = []
    if _get(cm, "admin.enabled") is not False:
        problems.append('values.configs.cm."admin.enabled" must be false')
    if not _get(cm, "oidc.config"):
        problems.append('values.configs.cm."oidc.config" must be set')
    if problems:
        report(
            f"{_label(args.resource_type, args.name)}: " + " and ".join(problems) + ": staging "
            "and prod log in to Argo CD through single sign-on only (config argocd_sso)",
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


def validate_tokens_scoped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A Cloudflare API token the program creates (the backup bucket's) reaches objects of named
    R2 buckets and nothing else: a leaked cluster Secret must not open the account."""
    if args.resource_type not in API_TOKENS:
        return
    label = _label(args.resource_type, args.name)
    for index, policy in enumerate(_as_list(_get(args.props, "policies"))):
        if _get(policy, "effect") != "allow":
            continue
        groups = [_get(group, "id") for group in _as_list(_get(policy, "permissionGroups"))]
        broader = [g for g in groups if isinstance(g, str) and g not in R2_ITEM_PERMISSION_GROUPS]
        if broader:
            report(
                f"{label}: policies[{index}] grants permission groups {broader}: a token the "
                "program creates holds only R2 bucket item read/write "
                f"({sorted(R2_ITEM_PERMISSION_GROUPS.values())})",
                args.urn,
            )
        resources = _get(policy, "resources")
        keys = _resource_keys(resources)
        outside = [k for k in keys if not k.startswith(R2_BUCKET_RESOURCE) or k.endswith("*")]
        if keys is not None and (outside or not keys):
            report(
                f"{label}: policies[{index}] covers {outside or 'no resource'}: a token the "
                f"program creates names its buckets one by one ({R2_BUCKET_RESOURCE}"
                "<account>_<jurisdiction>_<bucket>)",
                args.urn,
            )


def _resource_keys(resources: object) -> list[str] | None:
    """The keys of a policy's `resources` (a JSON object as text), or None while unknown."""
    if not isinstance(resources, str) or resources in ("[unknown]", "[secret]"):
        return None
    try:
        parsed = json.loads(resources)
    except ValueError:
        return ["(not JSON)"]
    return [str(k) for k in parsed] if isinstance(parsed, dict) else ["(not an object)"]
