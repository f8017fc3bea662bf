"""The platform's policy pack: its name, enforcement and policies, as plain policy objects whose
`validate` functions can be called without a Pulumi engine (the offline plan does, through
`offline/validators/policy_check.py`).

The pack is split into sibling modules of this directory, imported by their plain names:
`constants.py` (environments, resource types, limits), `reading.py` (helpers that read resource
properties, and which environment a resource belongs to), `resource_rules.py` and
`stack_rules.py` (the `validate` functions). The Pulumi CLI runs the pack from this directory
(`__main__.py` puts it on `sys.path` and imports this module as `rules`); the offline plan puts
the directory on `sys.path` while it loads this module from its file. `PolicyPack(...)` lives
only in `__main__.py`, because constructing it starts a gRPC server and blocks.
"""

from __future__ import annotations

from constants import ENVIRONMENTS
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from reading import environment_of as environment_of  # re-exported: the tests call it
from resource_rules import (
    validate_argocd_automated_sync,
    validate_argocd_sso_only,
    validate_dns_proxied,
    validate_no_exposed_services,
    validate_no_host_ports,
    validate_pinned_images,
    validate_protected_in_prod,
    validate_secrets_marked,
    validate_tokens_scoped,
)
from stack_rules import (
    validate_admin_behind_access,
    validate_admin_behind_access_dev,
    validate_control_plane_quorum,
)

PACK_NAME = "talos-platform"
PACK_ENFORCEMENT = EnforcementLevel.MANDATORY

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


# --- The policies ------------------------------------------------------------------------------

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="protected-in-prod",
        description=(
            "Proxmox VMs, Talos machine secrets and the backup bucket are protected in prod."
        ),
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
        name="argocd-sso-only",
        description="In staging and prod, Argo CD has no local admin and logs in through SSO.",
        validate=validate_argocd_sso_only,
        config_schema=ENVIRONMENT_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="secrets-not-plain",
        description="Credentials (tokens, passwords, kubeconfigs, keys, Secret data) are secret.",
        validate=validate_secrets_marked,
        config_schema=SECRETS_SCHEMA,
    ),
    ResourceValidationPolicy(
        name="tokens-scoped-to-buckets",
        description=(
            "A Cloudflare API token the program creates only reads and writes objects of the R2 "
            "buckets it names."
        ),
        validate=validate_tokens_scoped,
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
