"""Recorded plan documents to run the policy pack over, and small helpers to mutate them."""

from __future__ import annotations

import copy
from typing import Any

from offline.validators.policy_check import Violation, policy_violations
from tests.conftest import document

Document = dict[str, Any]

VM = "proxmoxve:index/vmLegacy:VmLegacy"
TALOS_SECRETS = "talos:machine/secrets:Secrets"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
ACCESS_APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"


def recorded_plan(stack: str) -> Document:
    """The real plan of `stack` (run once per session), as a copy a test may change."""
    return copy.deepcopy(document(stack))


def of_type(doc: Document, token: str) -> list[Document]:
    found = [r for r in doc["resources"] if r["type"] == token]
    assert found, f"the plan of {doc['stack']} has no {token}"
    return found


def one(doc: Document, token: str, name: str | None = None) -> Document:
    found = [r for r in of_type(doc, token) if name is None or r["name"] == name]
    assert len(found) == 1, f"expected one {token} {name or ''} in {doc['stack']}"
    return found[0]


def violations(doc: Document, policy: str, environment: str | None = None) -> list[Violation]:
    """Violations of one policy over `doc` (environment: the doc's stack unless given)."""
    found = policy_violations(doc, environment or doc["stack"])
    return [v for v in found if v.policy == policy]


def add_access_application(doc: Document, name: str, **inputs: Any) -> Document:
    """Record a ZeroTrustAccessApplication in `doc`, as the Tunnel component would register it."""
    tunnel = one(doc, TUNNEL_CONFIG)
    entry = {
        "urn": tunnel["urn"].rsplit("::", 1)[0].replace(TUNNEL_CONFIG, ACCESS_APP) + f"::{name}",
        "type": ACCESS_APP,
        "name": name,
        "parent": tunnel["parent"],
        "dependencies": [],
        "provider": tunnel["provider"],
        "protect": False,
        "inputs": {"accountId": tunnel["inputs"]["accountId"], "type": "self_hosted", **inputs},
        "secret_inputs": [],
    }
    doc["resources"].append(entry)
    return entry


def without(doc: Document, token: str) -> Document:
    doc["resources"] = [r for r in doc["resources"] if r["type"] != token]
    return doc
