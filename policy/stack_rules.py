"""The stack policies' `validate` functions: each sees every resource of the stack at once, for
rules that span resources (a quorum of VMs, a tunnel hostname and the Access app covering it)."""

from __future__ import annotations

from constants import (
    ACCESS_APPLICATION,
    MIN_CONTROL_PLANES,
    QUORUM_ENVIRONMENTS,
    TALOS_ROLES,
    TALOS_VM_DESCRIPTION,
    TUNNEL_CONFIG,
    VM,
)
from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs
from reading import _get, _stack_environment, access_patterns, admin_hostnames, covers


def _role(resource: PolicyResource) -> str | None:
    """A Talos node VM's role from its description; None for a VM that is no Talos node."""
    match = TALOS_VM_DESCRIPTION.match(str(_get(resource.props, "description") or ""))
    return match["role"] if match else None


def validate_control_plane_quorum(args: StackValidationArgs, report: ReportViolation) -> None:
    environment = _stack_environment(args)
    if environment not in QUORUM_ENVIRONMENTS:
        return
    # A stack with neither a VM nor a Talos resource builds no cluster: an edge stack
    # (docs/multi-cluster.md), whose environment's clusters are checked in their own stacks. A
    # cluster stack that lost its VMs still has its Talos machine secrets, and is reported.
    if not any(
        r.resource_type == VM or r.resource_type.startswith("talos:") for r in args.resources
    ):
        return
    control_planes = 0
    for vm in (r for r in args.resources if r.resource_type == VM):
        role = _role(vm)
        if role is None:
            continue
        if role == "controlplane":
            control_planes += 1
        elif role not in TALOS_ROLES:
            report(
                f"VmLegacy {vm.name!r} has the role {role!r} in its description: a Talos node "
                f"is described 'Talos <{' | '.join(TALOS_ROLES)}> of cluster <name>; ...'",
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
