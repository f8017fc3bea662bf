"""Constrained value types shared by the configuration models.

Each validator raises `ValueError("expected ...")` so that the loader can report the config key,
the bad value and what is expected in one line.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_TALOS_VERSION = re.compile(r"^v1\.13\.\d+$")
_KUBERNETES_VERSION = re.compile(r"^v1\.(3[1-6])\.\d+$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_CLOUDFLARED_VERSION = re.compile(r"^\d{4}\.\d{1,2}\.\d+$")
_EXTENSION = re.compile(r"^siderolabs/[a-z0-9][a-z0-9-]*$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")

UNPINNED = {"latest", "stable", "main", "master", "edge", "nightly", "*", ""}


def _matching(pattern: re.Pattern[str], expected: str, *, version: bool = True):
    def check(value: str) -> str:
        if version and value.strip().lower() in UNPINNED:
            raise ValueError(f"expected a pinned version, {expected}; not a moving tag")
        if not pattern.match(value):
            raise ValueError(f"expected {expected}")
        return value

    return check


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            "expected a DNS label: 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError("expected a lowercase DNS name such as example.com")
    return value


def _hex32(value: str) -> str:
    if not _HEX32.match(value):
        raise ValueError("expected a Cloudflare id: 32 lowercase hexadecimal characters")
    return value


def _https_url(value: str) -> str:
    if not re.match(r"^https://[a-z0-9.-]+(:\d{1,5})?(/.*)?$", value):
        raise ValueError("expected an https:// URL such as https://pve1.example.com:8006/")
    return value


def _device_path(value: str) -> str:
    if not re.match(r"^/dev/[a-z0-9/]+$", value):
        raise ValueError("expected a block device path such as /dev/sda")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Domain = Annotated[str, AfterValidator(_domain)]
CloudflareId = Annotated[str, AfterValidator(_hex32)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
DevicePath = Annotated[str, AfterValidator(_device_path)]
TalosVersion = Annotated[
    str, AfterValidator(_matching(_TALOS_VERSION, "a Talos v1.13 release such as v1.13.9"))
]
KubernetesVersion = Annotated[
    str,
    AfterValidator(
        _matching(_KUBERNETES_VERSION, "a Kubernetes release Talos v1.13 supports (v1.31-v1.36)")
    ),
]
ChartVersion = Annotated[
    str, AfterValidator(_matching(_SEMVER, "an exact chart version such as 10.1.1"))
]
CloudflaredVersion = Annotated[
    str,
    AfterValidator(_matching(_CLOUDFLARED_VERSION, "a cloudflared release such as 2026.10.0")),
]
TalosExtension = Annotated[
    str,
    AfterValidator(
        _matching(
            _EXTENSION,
            "an official extension name such as siderolabs/qemu-guest-agent",
            version=False,
        )
    ),
]


def _email(value: str) -> str:
    if not re.match(r"^[^@\s]+@[a-z0-9.-]+\.[a-z]{2,}$", value):
        raise ValueError("expected an e-mail address such as ops@example.com")
    return value


Email = Annotated[str, AfterValidator(_email)]


def _address_text(value: object) -> object:
    """Pydantic would read the number 5 as the address 0.0.0.5: require text."""
    if not isinstance(value, str):
        raise ValueError("expected an address written as text, such as 192.0.2.11 or 192.0.2.0/24")
    return value


IPv4 = Annotated[IPv4Address, BeforeValidator(_address_text)]
IPv4Net = Annotated[IPv4Network, BeforeValidator(_address_text)]
