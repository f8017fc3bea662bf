"""Read a stack's configuration the way `pulumi` would: project defaults, then the stack file.

`secure:` values cannot be decrypted without the Pulumi CLI and the stack's key, and a freshly
cloned stack file holds no secrets at all: both become secret placeholders here, so the plan runs.
A real `pulumi up` instead stops and names the `pulumi config set --secret` command to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from config.errors import NAMESPACE
from config.models import REQUIRED_SECRETS

from .paths import REPO_ROOT

SECRET_PLACEHOLDER = "offline-secret-placeholder"
PROXMOX_TOKEN_PLACEHOLDER = "offline@pve!plan=00000000-0000-0000-0000-000000000000"


class StackFileError(Exception):
    """The stack file or project file is missing or not valid YAML."""


@dataclass
class StackConfigValues:
    values: dict[str, str]
    """`talos-platform:key` -> value as Pulumi hands it to a program (structured values as JSON)."""
    secret_keys: set[str]
    placeholders: list[str] = field(default_factory=list)
    """Secret keys whose values were replaced by placeholders."""


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StackFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise StackFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path}: expected a YAML mapping at the top level")
    return data


def _as_config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def project_defaults(project_file: Path) -> dict[str, Any]:
    """Project-level config of Pulumi.yaml: `default` (or `value`) of each key, namespaced."""
    project = _load_yaml(project_file)
    out: dict[str, Any] = {}
    for name, spec in (project.get("config") or {}).items():
        full = name if ":" in name else f"{NAMESPACE}:{name}"
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            out[full] = spec.get("value", spec.get("default"))
        elif not isinstance(spec, dict):
            out[full] = spec
    return out


def read_stack_config(
    stack: str, stack_file: Path | None = None, project_file: Path | None = None
) -> StackConfigValues:
    project_file = project_file or REPO_ROOT / "Pulumi.yaml"
    stack_file = stack_file or REPO_ROOT / f"Pulumi.{stack}.yaml"
    merged = project_defaults(project_file)
    stack_data = _load_yaml(stack_file)
    config = stack_data.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{stack_file}: `config` must be a mapping of keys to values")
    secret_keys: set[str] = set()
    placeholders: list[str] = []
    for name, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(name)
            placeholders.append(name)
            value = _placeholder(name)
        merged[name] = value
    for name in REQUIRED_SECRETS:
        full = f"{NAMESPACE}:{name}"
        if full not in merged:
            merged[full] = _placeholder(full)
            secret_keys.add(full)
            placeholders.append(full)
    values = {k: _as_config_string(v) for k, v in merged.items()}
    return StackConfigValues(values, secret_keys, sorted(placeholders))


def _placeholder(key: str) -> str:
    return PROXMOX_TOKEN_PLACEHOLDER if key.endswith(":proxmox_api_token") else SECRET_PLACEHOLDER
