"""The stack policies' `validate` functions: each sees every resource of the stack at once, for
rules that span resources (a quorum of VMs, a tunnel hostname and the Access app covering it)."""

from __future__ import annotations

from constants import ACCESS_APPLICATION, MIN_CONTROL_PLANES, QUORUM_ENVIRONMENTS, TUNNEL_CONFIG, VM
from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs
from reading import _as_list, _get, _stack_environment, access_patterns, admin_hostnames, covers


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
