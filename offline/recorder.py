"""A mock resource monitor that records what the program registers, as the engine would see it.

Pulumi's mocks hand `new_resource` only the type, name, inputs and provider. The recorder keeps the
whole request: parent, dependencies, provider, protect, ignore_changes, additional secret outputs,
and which inputs are secret, so tests and the offline plan can assert on the real graph.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor, Mocks
from pulumi.runtime.settings import get_project, get_stack

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"

SECRET_INVOKE_ARGS = frozenset(
    {"machineSecrets", "clientConfiguration", "tunnelSecret", "token", "kubeconfig", "talosConfig"}
)
"""Invoke arguments that carry secrets. An output-form invoke unwraps secret arguments before it
calls the provider (and marks its result secret), so the request no longer says which were."""


def _trigger(request: Any) -> Any:
    if not request.HasField("replacement_trigger"):
        return None
    return json_format.MessageToDict(request.replacement_trigger)


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    protect: bool
    ignore_changes: list[str]
    additional_secret_outputs: list[str]
    inputs: dict[str, Any]
    secret_inputs: list[str]
    secret_digests: dict[str, str] = field(default_factory=dict)
    """Per secret input, a digest of its value (`secret_digest`): a changed secret shows."""
    replacement_trigger: Any = None
    """The `replacement_trigger` option's value: a change of it replaces the resource."""
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    replace_with: list[str] = field(default_factory=list)
    """URNs of resources whose replacement replaces this one (the `replace_with` option)."""
    deleted_with: str = ""
    aliases: list[str] = field(default_factory=list)
    """The URNs this resource was known by (its `aliases` option); children inherit a parent's."""
    id: str = ""
    """The id the offline runtime answered (`offline/answers`): what other resources' inputs
    hold when they refer to this one (a pool id in a load balancer's `default_pools`)."""
    read_id: str = ""
    """The id a read resource reads (a StackReference's stack, a `get`): the engine reads it
    and never creates, updates or deletes it. Empty for a resource the program manages."""


@dataclass
class InvokeRecord:
    token: str
    args: dict[str, Any]
    """The arguments with every secret one replaced by `[secret]`."""
    secret_args: list[str]
    raw_args: dict[str, Any] = field(repr=False, default_factory=dict)
    """The arguments as sent, for tests that check their shape; never printed."""
    depends_on: list[str] = field(default_factory=list)


def secret_digest(value: Any) -> str:
    """A short digest of a secret value, so two plans can tell that a secret changed without
    showing it. The offline run never holds a real secret (stack-file secrets are placeholders,
    provider secrets fabricated by `answers.py`), and the digest is one-way."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _clean(value: Any, path: str, secrets: list[str], digests: dict[str, str] | None = None) -> Any:
    """Plain JSON from a Struct: secrets hidden (their paths and digests noted), references as
    URNs."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            secrets.append(path)
            if digests is not None:
                digests[path] = secret_digest(value.get("value"))
            return SECRET
        if value.get(SIG) == RESOURCE_SIG:
            return value.get("urn")
        return {
            k: _clean(v, f"{path}.{k}" if path else k, secrets, digests)
            for k, v in sorted(value.items())
        }
    if isinstance(value, list):
        return [_clean(v, f"{path}[{i}]", secrets, digests) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == UNKNOWN:
        return "[unknown]"
    return value


def clean_struct(
    struct: Any, digests: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    secrets: list[str] = []
    return _clean(json_format.MessageToDict(struct), "", secrets, digests), secrets


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def _alias_urns(request: Any, urn: str) -> list[str]:
    """The URN of each alias: given, or built from its spec as the engine does (pulumi
    `sdk/go/common/resource/urn.go`, NewURN: stack, project, parent-qualified type, name)."""
    prefix, project, _, name = urn.split("::", 3)
    stack = prefix.removeprefix("urn:pulumi:")
    out = []
    for alias in request.aliases:
        if alias.urn:
            out.append(alias.urn)
            continue
        spec = alias.spec
        kind = spec.type or request.type
        parent = spec.parentUrn or ("" if spec.noParent else request.parent)
        out.append(
            engine_urn(
                spec.stack or stack, spec.project or project, parent, kind, spec.name or name
            )
        )
    return out


def qualified_type(parent: str, type_: str) -> str:
    """The engine's qualified type of a `type_` resource under `parent` (a URN, or empty): the
    parent's qualified type, `$`, the type; the root Stack qualifies nothing (pulumi
    `pkg/resource/deploy/deployment.go`, generateURN)."""
    parent_type = parent.split("::")[2] if parent else ""
    if parent_type and parent_type != ROOT_STACK_TYPE:
        return f"{parent_type}${type_}"
    return type_


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The URN the engine gives a resource (pulumi `sdk/go/common/resource/urn.go`, NewURN)."""
    return f"urn:pulumi:{stack}::{project}::{qualified_type(parent, type_)}::{name}"


class RecordingMonitor(MockMonitor):
    def __init__(
        self, mocks: Mocks, on_register: Callable[[Registration], None] | None = None
    ) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.invokes: list[InvokeRecord] = []
        self.on_register = on_register
        """Called with each registration as it is recorded (the plan starts renders early)."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN, not the mock's: the mock qualifies a type with its parent's last
        type only, and top-level resources with `pulumi:pulumi:Stack$`. Every reference the
        program makes (parent, dependencies, providers, resource inputs) comes from here."""
        return engine_urn(get_stack(), get_project(), parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        digests: dict[str, str] = {}
        inputs, secret_inputs = clean_struct(request.object, digests)
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={
                    k: list(v.urns) for k, v in request.propertyDependencies.items()
                },
                provider=request.provider,
                protect=bool(request.protect),
                ignore_changes=list(request.ignoreChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                inputs=inputs,
                secret_inputs=secret_inputs,
                secret_digests=digests,
                replacement_trigger=_trigger(request),
                replace_on_changes=list(request.replaceOnChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                retain_on_delete=bool(request.retainOnDelete),
                replace_with=list(request.replace_with),
                deleted_with=request.deletedWith,
                aliases=_alias_urns(request, response.urn),
                id=response.id,
            )
        )
        if self.on_register is not None:
            self.on_register(self.registrations[-1])
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().ReadResource(request)
        inputs, secret_inputs = clean_struct(request.properties)
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=True,
                parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={},
                provider=request.provider,
                protect=False,
                ignore_changes=[],
                additional_secret_outputs=list(request.additionalSecretOutputs),
                inputs=inputs,
                secret_inputs=secret_inputs,
                id=request.id,
                read_id=request.id,
            )
        )
        return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        raw, secret_args = clean_struct(request.args)
        args = dict(raw)
        for name in sorted(SECRET_INVOKE_ARGS & set(raw)):
            args[name] = SECRET
            secret_args.append(name)
        self.invokes.append(
            InvokeRecord(
                token=request.tok,
                args=args,
                secret_args=sorted(set(secret_args)),
                raw_args=raw,
                depends_on=list(getattr(request, "dependsOn", [])),
            )
        )
        return super().Invoke(request)
