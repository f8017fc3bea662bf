"""The configuration of an edge stack (docs/multi-cluster.md): the public hostnames that several
clusters of one environment serve, published by a Cloudflare Load Balancer whose pools are the
clusters' own tunnels.

A stack file is an edge stack's when it sets `talos-platform:edge`. It holds `environment`, the
`edge` section and the secret `cloudflare_api_token`, nothing of a cluster: `validate_edge()`
refuses a cluster section there, and ignores the project defaults of `Pulumi.yaml` (versions,
replicas), which Pulumi hands every stack. Like `config.loader.validate`, it never raises and
reports every problem together, each naming the key, the value and what is expected.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml
from pydantic import Field, TypeAdapter, ValidationError

from .errors import HIDDEN, NAMESPACE, ConfigError, ConfigProblem, key
from .loader import _check_secrets, _decode, _plain_credentials, _problems, read_raw
from .models import SECTIONS, Model
from .rules import _in_zone, _labels_below, _one_label
from .types import CloudflareId, Domain

EDGE_KEY = "edge"
EDGE_SECRETS = ("cloudflare_api_token",)
EDGE_KEYS = frozenset({"environment", EDGE_KEY, *EDGE_SECRETS})
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"


@cache
def project_defaults() -> frozenset[str]:
    """The keys `Pulumi.yaml` gives every stack a default for (versions, replicas, ...): in an
    edge stack's config too, and meaningless there."""
    config = (yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8")) or {}).get("config") or {}
    return frozenset(str(k).removeprefix(f"{NAMESPACE}:") for k in config)


STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
"""A stack of this project, in the edge stack's organization, by name (`prod-b`): letters,
digits, `-`, `_` and `.`, at most 100 (pulumi `sdk/go/common/tokens/stack_name.go`,
`ParseStackName`)."""
EXPECTED_CODES = re.compile(r"^[1-5](?:[0-9]{2}|xx)$")
"""One status code or a class (`2xx`): what a Cloudflare monitor's `expected_codes` accepts."""


class EdgeCluster(Model):
    """A cluster stack whose tunnel is one pool of every load balancer of the edge."""

    stack: str = Field(pattern=STACK_NAME.pattern)
    """The cluster's stack, a stack file of this repository (`prod-b`). The edge reads its
    outputs through a StackReference to `<organization>/<project>/<stack>`."""
    weight: float = Field(default=1.0, gt=0, le=1)
    """With `steering: random`, this cluster's share relative to the others (0 < weight <= 1)."""


class EdgeMonitor(Model):
    """The health check Cloudflare runs against each cluster's tunnel, with the hostname as
    Host header: through cloudflared and the ingress rule to the application itself."""

    path: str = Field(default="/", pattern=r"^/[^\s]*$")
    expected_codes: str = Field(default="200", pattern=EXPECTED_CODES.pattern)
    interval_seconds: int = Field(default=60, ge=10, le=3600)
    """Seconds between checks: 60 or more on Pro and Business plans, down to 10 on Enterprise."""
    timeout_seconds: int = Field(default=5, ge=1, le=10)
    retries: int = Field(default=2, ge=0, le=5)
    """Retries after a timeout, immediately, before the check counts as failed."""
    consecutive_down: int = Field(default=2, ge=1, le=10)
    """Failed checks in a row before a cluster is taken out of rotation."""
    consecutive_up: int = Field(default=2, ge=1, le=10)
    """Passed checks in a row before it is taken back."""


CheckRegion = Literal[
    "WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS"
]
"""Cloudflare's health-check regions (`load_balancer_pool/schema.go`, `check_regions`; its
`ALL_REGIONS` is left out: every region probes from three data centres, through each tunnel)."""


class EdgeHostname(Model):
    hostname: str
    """A public name in the zone that every cluster's stack routes with `edge: true`."""
    monitor: EdgeMonitor = Field(default_factory=EdgeMonitor)


class EdgeConfig(Model):
    account_id: CloudflareId
    """The account of the clusters' tunnels: a tunnel's `<id>.cfargotunnel.com` origin only
    serves a load balancer pool of its own account."""
    zone_id: CloudflareId
    zone: Domain
    steering: Literal["failover", "random"] = "failover"
    """`failover`: the first cluster serves, the next takes over when it is unhealthy (Cloudflare
    `steering_policy: off`, pools in this order). `random`: every healthy cluster serves, in
    proportion to its weight."""
    clusters: list[EdgeCluster] = Field(min_length=1)
    hostnames: list[EdgeHostname] = Field(min_length=1)
    check_regions: list[CheckRegion] = Field(default_factory=lambda: ["WEU", "ENAM"], min_length=1)
    """Where Cloudflare runs the health checks from, each region from three data centres: near
    the clusters. Unset in Cloudflare means every data centre, an Enterprise option, so it is
    always sent."""
    advanced_certificate: bool = False
    """As `cloudflare.advanced_certificate` of a cluster stack: names deeper than one label."""

    def stack_names(self) -> list[str]:
        return [c.stack for c in self.clusters]


@dataclass
class EdgeStack:
    environment: str
    edge: EdgeConfig


@dataclass
class EdgeValidated:
    config: EdgeStack | None
    problems: list[ConfigProblem] = field(default_factory=list)


_EDGE = TypeAdapter(EdgeConfig)
_ENVIRONMENT = TypeAdapter(SECTIONS["environment"])


def is_edge(raw: dict[str, Any]) -> bool:
    """The stack is an edge stack: its config sets `talos-platform:edge`."""
    return key(EDGE_KEY) in raw


def _rules(edge: EdgeConfig) -> list[ConfigProblem]:
    problems = []
    stacks = Counter(c.stack for c in edge.clusters)
    for i, cluster in enumerate(edge.clusters):
        if stacks[cluster.stack] > 1:
            problems.append(
                ConfigProblem(
                    key(f"edge.clusters[{i}].stack"), cluster.stack, "a cluster stack listed once"
                )
            )
    names = Counter(h.hostname for h in edge.hostnames)
    for i, entry in enumerate(edge.hostnames):
        where = key(f"edge.hostnames[{i}].hostname")
        if entry.hostname.startswith("*.") or not _in_zone(entry.hostname, edge.zone):
            problems.append(
                ConfigProblem(where, entry.hostname, f"a single name in the zone {edge.zone}")
            )
        elif not edge.advanced_certificate and _labels_below(entry.hostname, edge.zone) > 1:
            problems.append(
                ConfigProblem(
                    where,
                    entry.hostname,
                    f"a name at most one label below {edge.zone} (like "
                    f"{_one_label(entry.hostname, edge.zone)}): Universal SSL covers only "
                    f"{edge.zone} and *.{edge.zone}; or set edge.advanced_certificate: true",
                )
            )
        if names[entry.hostname] > 1:
            problems.append(ConfigProblem(where, entry.hostname, "a hostname listed once"))
    return problems


def _validate_edge(raw: dict[str, Any], secret_keys: set[str]) -> EdgeValidated:
    problems: list[ConfigProblem] = []
    for full in sorted(raw, key=str):
        namespace, _, name = str(full).partition(":")
        if namespace != NAMESPACE or name in EDGE_KEYS or name in project_defaults():
            continue
        problems.append(
            ConfigProblem(
                full,
                HIDDEN if full in secret_keys else raw[full],
                "no such key in an edge stack, which holds only environment, edge and the "
                "secret cloudflare_api_token (docs/multi-cluster.md); a cluster's settings "
                "belong in its own stack file",
            )
        )
    environment = edge = None
    if key("environment") not in raw:
        problems.append(ConfigProblem(key("environment"), None, "a value for this required key"))
    else:
        try:
            environment = _ENVIRONMENT.validate_python(_decode(raw[key("environment")]))
        except ValidationError as exc:
            problems += _problems("environment", exc)
    try:
        edge = _EDGE.validate_python(_decode(raw[key(EDGE_KEY)]))
    except ValidationError as exc:
        problems += _problems(EDGE_KEY, exc)
    if edge is not None:
        problems += _rules(edge)
    own_secrets = {key(name) for name in EDGE_SECRETS}
    problems += _check_secrets(
        {k: v for k, v in raw.items() if k in own_secrets}, secret_keys, EDGE_SECRETS
    )
    problems += _plain_credentials(raw, secret_keys)
    if problems or environment is None or edge is None:
        return EdgeValidated(None, problems)
    return EdgeValidated(EdgeStack(environment=str(environment), edge=edge))


def validate_edge(
    raw: dict[str, Any], secret_keys: set[str] | frozenset[str] = frozenset()
) -> EdgeValidated:
    """Validate an edge stack's raw config; never raises, and hides a secret key's value."""
    try:
        result = _validate_edge(raw, set(secret_keys))
    except Exception as exc:  # a bug: still a report, never a traceback
        return EdgeValidated(
            None,
            [
                ConfigProblem(
                    key(EDGE_KEY),
                    None,
                    f"a configuration the validator can check: it failed with "
                    f"{type(exc).__name__} (please report this, with the stack file's shape)",
                )
            ],
        )
    hidden = {str(k) for k in secret_keys}
    result.problems = [
        ConfigProblem(p.key, HIDDEN, p.expected) if p.key in hidden else p for p in result.problems
    ]
    return result


@dataclass(frozen=True)
class EdgeSecrets:
    cloudflare_api_token: pulumi.Output[str]


def load_edge() -> tuple[EdgeStack, EdgeSecrets]:
    """Validate the running edge stack's configuration; raise `ConfigError` with every problem."""
    raw, secret_keys = read_raw()
    result = validate_edge(raw, secret_keys)
    if result.config is None:
        raise ConfigError(result.problems)
    token = pulumi.Output.secret(str(raw[key("cloudflare_api_token")]))
    return result.config, EdgeSecrets(cloudflare_api_token=token)


def running_edge_stack() -> bool:
    """The running program's stack is an edge stack."""
    raw, _ = read_raw()
    return is_edge(raw)


__all__ = [
    "EdgeCluster",
    "EdgeConfig",
    "EdgeHostname",
    "EdgeMonitor",
    "EdgeSecrets",
    "EdgeStack",
    "EdgeValidated",
    "is_edge",
    "load_edge",
    "running_edge_stack",
    "validate_edge",
]
