"""Every key the program sends to a Cloudflare resource is one the SDK knows.

The Pulumi SDK translates the Python names of a nested input (a dict literal or a typed `*Args`)
into the provider's, from the input type's metadata; a key that is not one of them goes out
unchanged, and the bridge drops it without a word (pulumi-terraform-bridge `pkg/convert`, object
encoding). `origins[].header.host` of a load balancer pool was such a key (the SDK's name is
`hosts`): traffic still flowed, but no Host header was set. This walks the recorded inputs of
every Cloudflare resource of the shipped stacks, and of a hostname with every origin option set,
against the SDK's `*Args` classes."""

from __future__ import annotations

import collections.abc
import typing
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pytest
from pulumi import _types

from tests.components.test_edge_stack import shipped_edge
from tests.conftest import STACKS, recorded, stack_values, structured, with_key

_MAX_UNWRAP = 20


def _resolve(hint: Any) -> Any:
    """A forward reference of the SDK's annotations, as its class."""
    name = hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else str(hint)
    name = name.strip("'\"")
    return getattr(cloudflare._inputs, name, None) or getattr(cloudflare, name, None)


def _unwrap(hint: Any) -> tuple[str, Any]:
    """(`object`, its input type), (`list`, item), (`map`, value), or (`scalar`, hint)."""
    for _ in range(_MAX_UNWRAP):
        if isinstance(hint, str | typing.ForwardRef):
            hint = _resolve(hint)
            if hint is None:
                return "scalar", None
            continue
        if _types.is_input_type(hint):
            return "object", hint
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is typing.Union:
            # Input[T] is Union[T, Awaitable[T], Output[T]]; Optional adds None.
            members = [
                a
                for a in args
                if a is not type(None)
                and typing.get_origin(a) not in (collections.abc.Awaitable, pulumi.Output)
                and a is not pulumi.Output
            ]
            typed = [a for a in members if not isinstance(a, str | typing.ForwardRef)]
            hint = (typed or members)[0]
            continue
        if origin in (list, collections.abc.Sequence):
            return "list", args[0]
        if origin in (dict, collections.abc.Mapping):
            return "map", args[1]
        return "scalar", hint
    return "scalar", hint


def unknown_keys(value: Any, hint: Any, path: str) -> list[str]:
    kind, inner = _unwrap(hint)
    found = []
    if kind == "object" and isinstance(value, dict):
        names = _types.input_type_py_to_pulumi_names(inner)
        types = _types.input_type_types(inner)
        known = set(names.values())
        for key, item in value.items():
            if key not in known:
                found.append(f"{path}.{key} (a {inner.__name__} has {sorted(known)})")
                continue
            python = next(p for p, n in names.items() if n == key)
            found += unknown_keys(item, types.get(python), f"{path}.{key}")
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            found += unknown_keys(item, inner, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += unknown_keys(item, inner, f"{path}[{key}]")
    return found


def cloudflare_problems(run: Any) -> tuple[int, list[str]]:
    checked, problems = 0, []
    for reg in run.registrations:
        if not reg.type.startswith("cloudflare:index/"):
            continue
        args = getattr(cloudflare, reg.type.rsplit(":", 1)[-1] + "Args")
        checked += 1
        problems += unknown_keys(reg.inputs, args, f"{reg.type.rsplit(':', 1)[-1]} {reg.name}")
    return checked, problems


@pytest.mark.parametrize("stack", [*STACKS, "prod-b"])
def test_every_key_of_a_clusters_cloudflare_resources_is_known_to_the_sdk(stack: str) -> None:
    checked, problems = cloudflare_problems(recorded(stack))
    assert checked >= 8 and problems == []


def test_every_key_of_the_edges_resources_is_known_to_the_sdk() -> None:
    checked, problems = cloudflare_problems(shipped_edge())
    assert checked >= 4 and problems == []


def test_every_origin_option_and_access_setting_is_sent_under_a_known_key() -> None:
    values, _ = stack_values("dev")
    cf = structured(values, "cloudflare")
    service = "https://frontend.podinfo.svc.cluster.local:9898"
    cf["hostnames"][0].update(
        service=service,
        origin={
            "connect_timeout_seconds": 10,
            "origin_server_name": "app.internal",
            "ca_pool": "/etc/ssl/ca.pem",
            "http2_origin": True,
        },
    )
    cf["hostnames"].append(
        {"hostname": "tls-dev.example.com", "service": service, "origin": {"no_tls_verify": True}}
    )
    cf["access"].update(email_domains=["example.com"], groups=["0" * 32])
    run = recorded("dev", with_key(values, "cloudflare", cf))
    checked, problems = cloudflare_problems(run)
    assert checked >= 8 and problems == []
    # ...and every option was sent (the walk saw each under its provider name).
    [config] = [r for r in run.registrations if r.type.endswith("ZeroTrustTunnelCloudflaredConfig")]
    sent = {
        k for rule in config.inputs["config"]["ingresses"] for k in rule.get("originRequest", {})
    }
    assert sent == {"connectTimeout", "originServerName", "caPool", "http2Origin", "noTlsVerify"}


def test_a_misspelt_key_is_found() -> None:
    """The check itself: the pool's old `host`, and a snake_case key the SDK did not
    translate, are reported."""
    pool = {"origins": [{"address": "x", "header": {"host": ["a"]}}], "originSteering": {}}
    assert unknown_keys(pool, cloudflare.LoadBalancerPoolArgs, "pool") == [
        "pool.origins[0].header.host (a LoadBalancerPoolOriginHeaderArgs has ['hosts'])"
    ]
    config = {"config": {"ingresses": [{"service": "s", "origin_request": {}}]}}
    [problem] = unknown_keys(config, cloudflare.ZeroTrustTunnelCloudflaredConfigArgs, "tunnel")
    assert problem.startswith("tunnel.config.ingresses[0].origin_request (a ")
