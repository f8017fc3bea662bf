"""Read a stack's configuration the way `pulumi` would: project defaults, then the stack file.

`secure:` values cannot be decrypted without the Pulumi CLI and the stack's key, and a freshly
cloned stack file holds no secrets at all: both become secret placeholders here, so the plan runs.
A real `pulumi up` instead stops and names the `pulumi config set --secret` command to run.

The files are read as strictly as Pulumi reads them, and bounded, so that no content makes this
reader crash, hang or take unbounded memory (`_load_yaml`):

- a duplicate key is an error naming the key and its lines (Pulumi's YAML reader, yaml.v3:
  "mapping key ... already defined"); so is a key that is not text;
- a config key is `<namespace>:<name>` (pulumi `sdk/go/common/resource/config/key.go`,
  `ParseKey`, which also reads the old `<namespace>:config:<name>`); a key outside the project
  namespace is an error: Pulumi would accept provider config (`proxmoxve:endpoint`), but this
  program configures its providers itself and never reads it;
- a timestamp stays the text it was written as (yaml.v3 decodes one into `interface{}` as a
  string); `!!binary`, `!!set`, `!!omap` and `!!pairs` are refused; an integer must fit 64 bits;
- the file is at most `MAX_FILE_BYTES`, a document at most `MAX_DEPTH` levels deep, at most
  `MAX_NODES` values and at most `MAX_CHARS` characters of keys and values once its aliases are
  expanded (so an alias bomb, "billion laughs", or an alias of a long text repeated is refused:
  yaml.v3 bounds the same expansion by ratio), and an alias may not contain itself.

Messages name keys, lines and columns, never a value (a value may be a credential), and pass
every key through `config.errors.redact`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from config.edge import EDGE_SECRETS, is_edge
from config.errors import NAMESPACE, redact
from config.models import StorageConfig, required_secrets

from .paths import REPO_ROOT

SECRET_PLACEHOLDER = "offline-secret-placeholder"
PROXMOX_TOKEN_PLACEHOLDER = "offline@pve!plan=00000000-0000-0000-0000-000000000000"

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A stack file of the largest benchmark config (`offline/scale.py`, 3841 nodes) is under 1 MiB."""
MAX_DEPTH = 32
"""Nesting levels of a document (the shipped files need 6), aliases expanded."""
MAX_NODES = 250_000
"""Values (scalars, lists, mappings) of a document once its aliases are expanded; the largest
benchmark config has about 80,000."""
MAX_CHARS = MAX_FILE_BYTES
"""Characters of the keys and texts of a document once its aliases are expanded. A file without
aliases never reaches it (a character of a value takes at least one byte of the file); an alias
of a 1 MB text repeated thousands of times would otherwise take gigabytes."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""yaml.v3 decodes an integer into Go's int64 (or uint64); a larger one is no config value."""

PROVIDER_NAMESPACES = ("proxmoxve", "talos", "cloudflare", "kubernetes", "command", "random")
"""Config namespaces of the providers this program uses (`requirements.txt`): Pulumi would hand
`proxmoxve:*` and so on to the default providers, which the program never uses; its own providers
take their settings from `talos-platform:*` keys and secrets (`components/providers.py`)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class StackFileError(Exception):
    """The stack file or project file is missing or not valid YAML."""


@dataclass
class StackConfigValues:
    values: dict[str, str]
    """`talos-platform:key` -> value as Pulumi hands it to a program (structured values as JSON)."""
    secret_keys: set[str]
    placeholders: list[str] = field(default_factory=list)
    """Secret keys whose values were replaced by placeholders."""


def _shown_key(value: Any) -> str:
    """A key as an error message shows it: quoted, credentials redacted, cut short."""
    return repr(redact(str(value), 80))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded (depth, alias expansion) and strict (duplicate and non-text
    keys, integers beyond 64 bits, binary and set values)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            if anchored is not None and not hasattr(anchored, "expanded_size"):
                raise ComposerError(
                    None, None, "found an alias inside the value it names", event.start_mark
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(
                    None,
                    None,
                    f"found nesting deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        node.expanded_size = 1 + sum(child.expanded_size for child in children)
        node.expanded_depth = 1 + max((child.expanded_depth for child in children), default=0)
        own = len(node.value) if isinstance(node, ScalarNode) else 0
        node.expanded_chars = own + sum(child.expanded_chars for child in children)
        if node.expanded_size > MAX_NODES:
            raise ComposerError(
                None,
                None,
                f"found more than {MAX_NODES} values (texts, numbers, lists, mappings) once "
                "aliases are expanded: the limit of a stack file",
                node.start_mark,
            )
        if node.expanded_chars > MAX_CHARS:
            raise ComposerError(
                None,
                None,
                f"found more than {MAX_CHARS} characters of keys and values once aliases are "
                "expanded: the limit of a stack file",
                node.start_mark,
            )
        if node.expanded_depth > MAX_DEPTH:
            raise ComposerError(
                None,
                None,
                f"found nesting deeper than {MAX_DEPTH} levels once aliases are expanded",
                node.start_mark,
            )
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                if not isinstance(key_node, ScalarNode):
                    raise ConstructorError(
                        None,
                        None,
                        "found a list or mapping as a key: keys must be text",
                        key_node.start_mark,
                    )
                name = self.construct_object(key_node, deep=True)
                if not isinstance(name, str):
                    raise ConstructorError(
                        None,
                        None,
                        f"found the key {_shown_key(key_node.value)}, read as "
                        f"{type(name).__name__}: keys must be text (quote it)",
                        key_node.start_mark,
                    )
                if name in seen:
                    raise ConstructorError(
                        None,
                        None,
                        f"found the key {_shown_key(name)} twice (first on line "
                        f"{seen[name] + 1}): Pulumi refuses duplicate keys",
                        key_node.start_mark,
                    )
                seen[name] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _construct_int(loader: _Loader, node: Any) -> int:
    digits = str(node.value).replace("_", "").lstrip("+-")
    value = None if len(digits) > 64 else SafeConstructor.construct_yaml_int(loader, node)
    if value is None or not INT_MIN <= value <= INT_MAX:
        raise ConstructorError(
            None,
            None,
            f"found an integer outside the 64-bit range ({INT_MIN} to {INT_MAX})",
            node.start_mark,
        )
    return value


def _construct_text(loader: _Loader, node: Any) -> str:
    return loader.construct_scalar(node)


def _refuse(what: str):
    def construct(loader: _Loader, node: Any) -> Any:
        raise ConstructorError(
            None,
            None,
            f"found a {what} value: a stack file holds text, numbers, booleans, lists and mappings",
            node.start_mark,
        )

    return construct


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse(f"!!{_tag}"))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without the snippet of the file PyYAML would quote."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = []
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
            if text is None:
                continue
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            parts.append(f"{text}{where}")
        return redact("; ".join(parts) or type(exc).__name__, 300)
    return redact(str(exc), 300)


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise StackFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise StackFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise StackFileError(f"{path}: not a stack file: larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StackFileError(
            f"{path}: not valid YAML: not UTF-8 text (byte {exc.start + 1}, line {line})"
        ) from None


def _load_yaml(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    loader = None
    try:
        loader = _Loader(text)  # checks the characters: no NUL or other control character
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # bounded above; never expected
        raise StackFileError(
            f"{path}: not valid YAML: cannot be read ({type(exc).__name__})"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(
            f"{path}: expected a YAML mapping at the top level, found {type(data).__name__}"
        )
    return data


def _as_config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _config_key(name: str) -> tuple[str, str] | None:
    """`(namespace, name)` of a stack config key as Pulumi's `ParseKey` reads it, or None."""
    parts = name.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config":  # the old `<namespace>:config:<name>`
        return parts[0], parts[2]
    return None


def _foreign_key_problem(name: str, namespace: str) -> str:
    shown = _shown_key(name)
    if namespace in PROVIDER_NAMESPACES:
        return (
            f"{shown}: provider configuration, which Pulumi would hand to the default "
            f"{namespace} provider; this program never uses it (its providers take their "
            f"settings from {NAMESPACE}:* keys and secrets, README 'Stack configuration'): "
            "remove it"
        )
    if namespace == "pulumi":
        return f"{shown}: an engine option; this project's stack files set none: remove it"
    return (
        f"{shown}: a key outside the project namespace; every key of this project is "
        f"{NAMESPACE}:<name> (README, 'Stack configuration')"
    )


def _stack_keys(stack_file: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The stack's config with each key in its `namespace:name` form; StackFileError naming
    every key Pulumi would refuse or this program would not use."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, value in config.items():
        parsed = _config_key(name)
        if parsed is None:
            problems.append(
                f"{_shown_key(name)}: not a config key: expected {NAMESPACE}:<name> (Pulumi "
                "refuses a key without exactly one namespace)"
            )
            continue
        namespace, short = parsed
        if namespace != NAMESPACE:
            problems.append(_foreign_key_problem(name, namespace))
            continue
        full = f"{NAMESPACE}:{short}"
        if full in out:
            problems.append(f"{_shown_key(name)}: the key {_shown_key(full)} given twice")
            continue
        out[full] = value
    if problems:
        lines = [f"{stack_file}: {len(problems)} key(s) Pulumi or this program would not use:"]
        raise StackFileError("\n".join(lines + [f"  - {p}" for p in problems]))
    return out


def project_defaults(project_file: Path) -> dict[str, Any]:
    """Project-level config of Pulumi.yaml: `default` (or `value`) of each key, namespaced."""
    project = _load_yaml(project_file)
    config = project.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{project_file}: `config` must be a mapping of keys to values")
    out: dict[str, Any] = {}
    for name, spec in config.items():
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
    config = stack_data.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise StackFileError(
            f"{stack_file}: `config` must be a mapping of keys to values, "
            f"found {type(config).__name__}"
        )
    secret_keys: set[str] = set()
    placeholders: list[str] = []
    for name, value in _stack_keys(stack_file, config).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(name)
            placeholders.append(name)
            value = _placeholder(name)
        merged[name] = value
    # An edge stack (config/edge.py) needs only the Cloudflare token.
    needed = (
        EDGE_SECRETS if is_edge(merged) else _required_secrets(merged.get(f"{NAMESPACE}:storage"))
    )
    for name in needed:
        full = f"{NAMESPACE}:{name}"
        if full not in merged:
            merged[full] = _placeholder(full)
            secret_keys.add(full)
            placeholders.append(full)
    try:
        values = {k: _as_config_string(v) for k, v in merged.items()}
    except (TypeError, ValueError, RecursionError, MemoryError) as exc:  # bounded by the reader
        raise StackFileError(
            f"{stack_file}: a value cannot be handed to the program ({type(exc).__name__})"
        ) from None
    return StackConfigValues(values, secret_keys, sorted(placeholders))


def _required_secrets(storage: Any) -> tuple[str, ...]:
    """The secrets the stack needs (`config.models.required_secrets`); a `storage` section the
    validator will refuse counts as the default (the CSI token needed)."""
    try:
        model = StorageConfig.model_validate(storage) if isinstance(storage, dict) else None
    except ValueError:
        model = None
    return required_secrets(model)


def _placeholder(key: str) -> str:
    if key.endswith((":proxmox_api_token", ":proxmox_csi_token")):
        return PROXMOX_TOKEN_PLACEHOLDER
    return SECRET_PLACEHOLDER
