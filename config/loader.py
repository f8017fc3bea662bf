"""Reads the stack configuration once, validates all of it, and reports every problem together.

`validate()` is pure (raw values in, models and problems out) so it is tested without Pulumi;
`load()` reads the Pulumi config of the running program, wraps secrets in `Output.secret` and
raises `ConfigError` (shown by the engine without a traceback) before any resource exists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import TypeAdapter, ValidationError

from .errors import HIDDEN, NAMESPACE, ConfigError, ConfigProblem, credential_kind, key, redact
from .models import (
    DEFAULTED_SECTIONS,
    OPTIONAL_SECRETS,
    REQUIRED_SECRETS,
    SECTIONS,
    StackConfig,
    is_argocd_ui,
    required_secrets,
)
from .repository import tree_repository
from .rules import cross_rules
from .types import GIT_REPOSITORY_EXPECTED, GIT_REPOSITORY_URL

_ADAPTERS = {name: TypeAdapter(kind) for name, kind in SECTIONS.items()}
_PROXMOX_TOKEN = re.compile(r"^[^@\s]+@[^!\s]+![^=\s]+=[0-9a-fA-F-]{36}$")
_MAX_WALK = 200_000
"""Items of one config value inspected for credentials (the stack file reader bounds a document
to fewer, see `offline/stackfile.py`)."""


@dataclass(frozen=True)
class Secrets:
    """Secret config values, each already wrapped in `Output.secret`."""

    proxmox_api_token: pulumi.Output[str]
    cloudflare_api_token: pulumi.Output[str]
    gitops_token: pulumi.Output[str] | None = None
    gitops_ssh_key: pulumi.Output[str] | None = None
    argocd_webhook_secret: pulumi.Output[str] | None = None
    argocd_notifications_url: pulumi.Output[str] | None = None
    """Where Argo CD posts its notifications (the URL holds the receiver's token)."""
    proxmox_csi_token: pulumi.Output[str] | None = None
    """The Proxmox CSI plugin's API token, `USER@REALM!TOKENID=UUID`."""
    alertmanager_receiver_url: pulumi.Output[str] | None = None
    """Where Alertmanager sends alerts (the URL holds the receiver's token)."""
    alertmanager_heartbeat_url: pulumi.Output[str] | None = None
    """A dead man's switch (healthchecks.io and the like) the Watchdog alert pings."""


@dataclass
class Validated:
    config: StackConfig | None
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _loc_path(top: str, loc: tuple[Any, ...]) -> str:
    path = top
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _expected(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "a value for this required key"
    if kind == "extra_forbidden":
        return "no such key here (check its spelling against README, 'Stack configuration')"
    if msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
        return msg.removeprefix("expected ")
    msg = msg.removeprefix("Input should be ").removeprefix("Input is not ")
    return msg[0].lower() + msg[1:] if msg else kind


def _problems(path: str, exc: ValidationError) -> list[ConfigProblem]:
    return [
        ConfigProblem(key(_loc_path(path, err["loc"])), err["input"], _expected(err))
        for err in exc.errors()
    ]


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            # Not JSON, or JSON Python refuses: an integer of more than 4300 digits, nesting
            # deeper than the interpreter's recursion limit. Validated as the text it is.
            return value
    return value


def _first_credential(value: Any, path: str) -> tuple[str, str] | None:
    """The path and kind of the first credential-looking text (or key) in `value`."""
    stack: list[tuple[str, Any]] = [(path, value)]
    seen = 0
    while stack and seen < _MAX_WALK:
        where, item = stack.pop()
        seen += 1
        if isinstance(item, str):
            kind = credential_kind(item)
            if kind:
                return where, kind
        elif isinstance(item, dict):
            for name, child in reversed(list(item.items())):
                stack.append((f"{where}.{name}", child))
                stack.append((where, str(name)))
        elif isinstance(item, list):
            stack += [(f"{where}[{i}]", child) for i, child in reversed(list(enumerate(item)))]
    return None


def _plain_credentials(raw: dict[str, Any], secret_keys: set[str]) -> list[ConfigProblem]:
    """A credential in a plain (not secret) value would reach the plan, its JSON and the
    pull-request comment: whatever key it is under, it is a problem, and never shown."""
    secret_names = {key(name) for name in REQUIRED_SECRETS + OPTIONAL_SECRETS}
    problems = []
    for full in sorted(raw, key=str):
        if full in secret_keys or full in secret_names:
            continue  # a secret, or a secret given in plain text (`_check_secrets`)
        found = _first_credential(_decode(raw[full]), str(full))
        if found is None:
            continue
        where, kind = found
        advice = (
            f"; a private GitOps repository takes its token from the secret {key('gitops_token')}"
            if kind == "a URL with credentials"
            else ""
        )
        problems.append(
            ConfigProblem(
                where,
                HIDDEN,
                f"no credential in plain-text config (this looks like {kind}): keep credentials "
                f"in secrets (`pulumi config set --secret {NAMESPACE}:<key>`){advice}",
            )
        )
    return problems


def _check_secrets(
    raw: dict[str, Any], secret_keys: set[str], required: tuple[str, ...] = REQUIRED_SECRETS
) -> list[ConfigProblem]:
    problems = []
    for name in REQUIRED_SECRETS + OPTIONAL_SECRETS:
        full = key(name)
        if full not in raw:
            if name in required:
                problems.append(
                    ConfigProblem(
                        full,
                        None,
                        f"a secret: run `pulumi config set --secret {full} <value>`",
                    )
                )
            continue
        if full not in secret_keys:
            problems.append(
                ConfigProblem(
                    full,
                    "<plain text, not shown>",
                    f"a secret: remove it and run `pulumi config set --secret {full} <value>`",
                )
            )
        elif name in {"proxmox_api_token", "proxmox_csi_token"} and not _PROXMOX_TOKEN.match(
            str(raw[full])
        ):
            problems.append(
                ConfigProblem(
                    full,
                    HIDDEN,
                    "a Proxmox API token of the form USER@REALM!TOKENID=UUID",
                )
            )
    return problems


def _repository_url(gitops: Any) -> list[ConfigProblem]:
    """No user, token, query or fragment in the repository URL: the program never needs them,
    and the URL reaches the plan, its JSON and the Argo CD Application."""
    if gitops is None or GIT_REPOSITORY_URL.fullmatch(gitops.repo_url):
        return []
    return [ConfigProblem(key("gitops.repo_url"), gitops.repo_url, GIT_REPOSITORY_EXPECTED)]


def _repository_credentials(raw: dict[str, Any], gitops: Any) -> list[ConfigProblem]:
    """The credential must fit the URL: a token for HTTPS, a deploy key for SSH."""
    if gitops is None:
        return []
    ssh = not gitops.repo_url.startswith("https://")
    token, ssh_key = key("gitops_token") in raw, key("gitops_ssh_key") in raw
    if ssh and token:
        return [
            ConfigProblem(
                key("gitops_token"),
                HIDDEN,
                f"no token for the SSH URL {gitops.repo_url}: set gitops_ssh_key instead",
            )
        ]
    if not ssh and ssh_key:
        return [
            ConfigProblem(
                key("gitops_ssh_key"),
                HIDDEN,
                f"no SSH key for the HTTPS URL {gitops.repo_url}: set gitops_token instead",
            )
        ]
    return []


def _webhook(raw: dict[str, Any], cloudflare: Any) -> list[ConfigProblem]:
    """A webhook secret needs a public Argo CD hostname for the Git host to call."""
    if key("argocd_webhook_secret") not in raw or cloudflare is None:
        return []
    if any(is_argocd_ui(h) for h in cloudflare.hostnames):
        return []
    return [
        ConfigProblem(
            key("argocd_webhook_secret"),
            HIDDEN,
            "no webhook secret without a hostname routed to argocd-server in "
            "cloudflare.hostnames: the Git host would have nowhere to send pushes",
        )
    ]


def validate(
    raw: dict[str, Any], secret_keys: set[str] | frozenset[str] = frozenset()
) -> Validated:
    """Validate raw config values (keys `talos-platform:<name>`, values as Pulumi gives them).

    Never raises: hostile input (any type, any size the stack file reader lets through) gives
    problems. A problem under a key set as a secret never carries its value.
    """
    try:
        result = _validate(raw, secret_keys)
    except Exception as exc:  # a bug, but the run must still end in a report, not a traceback
        return Validated(
            None,
            [
                ConfigProblem(
                    key("*"),
                    None,
                    "a configuration the validator can check: it failed with "
                    f"{type(exc).__name__} (please report this, with the stack file's shape)",
                )
            ],
        )
    hidden = {str(k) for k in secret_keys}
    result.problems = [
        p
        if not any(p.key == s or p.key.startswith((f"{s}.", f"{s}[")) for s in hidden)
        else ConfigProblem(p.key, HIDDEN, p.expected)
        for p in result.problems
    ]
    return result


def _validate(raw: dict[str, Any], secret_keys: set[str] | frozenset[str]) -> Validated:
    problems: list[ConfigProblem] = []
    parsed: dict[str, Any] = {}
    known = set(SECTIONS) | set(REQUIRED_SECRETS) | set(OPTIONAL_SECRETS)
    for full in sorted(raw, key=str):
        namespace, _, name = str(full).partition(":")
        if namespace == NAMESPACE and name not in known:
            problems.append(
                ConfigProblem(
                    full,
                    HIDDEN if full in secret_keys else raw[full],
                    f"a known key: one of {', '.join(sorted(known))}",
                )
            )
    for name, adapter in _ADAPTERS.items():
        full = key(name)
        if full not in raw and name in DEFAULTED_SECTIONS:
            parsed[name] = adapter.validate_python({})
            continue
        if full not in raw:
            problems.append(
                ConfigProblem(full, None, "a value (set it in Pulumi.<stack>.yaml or Pulumi.yaml)")
            )
            continue
        value = _decode(raw[full])
        if name == "gitops" and isinstance(value, dict) and "repo_url" not in value:
            value = {**value, "repo_url": tree_repository()[0]}
        if name == "nodes" and isinstance(value, list):
            # Cross-node rules read the nodes as written, so one bad node hides nothing.
            parsed["nodes_written"] = value
        try:
            parsed[name] = adapter.validate_python(value)
        except ValidationError as exc:
            problems += _problems(name, exc)
    problems += _check_secrets(raw, set(secret_keys), required_secrets(parsed.get("storage")))
    problems += _plain_credentials(raw, set(secret_keys))
    problems += _repository_url(parsed.get("gitops"))
    problems += _repository_credentials(raw, parsed.get("gitops"))
    problems += _webhook(raw, parsed.get("cloudflare"))
    found, warnings = cross_rules(parsed)
    problems += found
    if problems:
        return Validated(None, problems, warnings)
    del parsed["nodes_written"]
    return Validated(StackConfig(**parsed), problems, warnings)


def read_raw() -> tuple[dict[str, Any], set[str]]:
    """Every config value of this project in the running program, and the secret keys."""
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw = {k: v for k, v in everything.items() if k.startswith(NAMESPACE + ":")}
    secret = {k for k in raw if runtime_config.is_config_secret(k)}
    return raw, secret


def load() -> tuple[StackConfig, Secrets]:
    """Validate the running stack's configuration; raise `ConfigError` listing every problem."""
    raw, secret_keys = read_raw()
    result = validate(raw, secret_keys)
    for warning in result.warnings:
        pulumi.log.warn(redact(warning))
    if result.config is None:
        raise ConfigError(result.problems)

    def optional(name: str) -> pulumi.Output[str] | None:
        value = raw.get(key(name))
        return pulumi.Output.secret(str(value)) if value else None

    secrets = Secrets(
        proxmox_api_token=pulumi.Output.secret(str(raw[key("proxmox_api_token")])),
        cloudflare_api_token=pulumi.Output.secret(str(raw[key("cloudflare_api_token")])),
        gitops_token=optional("gitops_token"),
        gitops_ssh_key=optional("gitops_ssh_key"),
        argocd_webhook_secret=optional("argocd_webhook_secret"),
        argocd_notifications_url=optional("argocd_notifications_url"),
        proxmox_csi_token=optional("proxmox_csi_token"),
        alertmanager_receiver_url=optional("alertmanager_receiver_url"),
        alertmanager_heartbeat_url=optional("alertmanager_heartbeat_url"),
    )
    return result.config, secrets
