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
    # No user or password (`user:pass@`), no query (`?k=v`), no fragment (`#...`): the program
    # never needs them, and a credential there would reach the plan and its JSON.
    if not re.fullmatch(r"https://[a-z0-9.-]+(:\d{1,5})?(/[^?#\s]*)?", value):
        raise ValueError(
            "expected an https:// URL such as https://pve1.example.com:8006/, without user, "
            "password, query (?...) or fragment (#...)"
        )
    return value


GIT_REPOSITORY_URL = re.compile(
    r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^?#\s]*)?"
    r"|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:\d{1,5})?(/[^?#\s]*)?"
    r"|git@[A-Za-z0-9.-]+:[^?#\s]+"
)
"""A Git repository URL (`fullmatch`) without password, token, query or fragment: `https://host/path`,
`ssh://[user@]host[:port]/path` or `git@host:path` (the user of SSH is no secret)."""
GIT_REPOSITORY_EXPECTED = (
    "a Git repository URL such as https://github.com/org/repo.git or git@github.com:org/repo.git, "
    "without user or token before the host, query (?...) or fragment (#...): a private "
    "repository takes its credential from a secret"
)


def git_ref_problem(value: str) -> str | None:
    """Why `value` is no Git ref name as `git check-ref-format --allow-onelevel` reads it (and no
    option: no leading '-'), or None. The reason never quotes the value."""
    if not value:
        return "an empty name"
    if len(value) > 255:
        return "a name longer than 255 characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "a control character"
    for char, name in ((" ", "a space"), ("~", "'~'"), ("^", "'^'"), (":", "':'"), ("?", "'?'")):
        if char in value:
            return name
    for char, name in (("*", "'*'"), ("[", "'['"), ("\\", "a backslash")):
        if char in value:
            return name
    if ".." in value:
        return "'..'"
    if "@{" in value:
        return "'@{'"
    if value == "@":
        return "the name '@'"
    if value.startswith("-"):
        return "a leading '-'"
    if value.startswith("/") or value.endswith("/") or "//" in value:
        return "an empty part between '/'"
    if value.endswith("."):
        return "a trailing '.'"
    for part in value.split("/"):
        if part.startswith("."):
            return "a part starting with '.'"
        if part.endswith(".lock"):
            return "a part ending with '.lock'"
    return None


def _git_ref(value: str) -> str:
    reason = git_ref_problem(value)
    if reason:
        raise ValueError(
            "expected a Git branch, tag or commit such as main, env/prod or v1.2.0: "
            f"`git check-ref-format` refuses {reason}"
        )
    return value


def _device_path(value: str) -> str:
    if not re.match(r"^/dev/[a-z0-9/]+$", value):
        raise ValueError("expected a block device path such as /dev/sda")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Domain = Annotated[str, AfterValidator(_domain)]
CloudflareId = Annotated[str, AfterValidator(_hex32)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
GitRef = Annotated[str, AfterValidator(_git_ref)]
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


_R2_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
"""Cloudflare R2's bucket names: 3-63 lowercase letters, digits and hyphens, starting and ending
with a letter or digit (R2 docs, "Bucket names"; the API refuses others)."""


def _r2_bucket(value: str) -> str:
    if not _R2_BUCKET.match(value):
        raise ValueError(
            "expected an R2 bucket name: 3-63 lowercase letters, digits or '-', starting and "
            "ending with a letter or digit"
        )
    return value


R2BucketName = Annotated[str, AfterValidator(_r2_bucket)]

_POOL_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*(?:/[A-Za-z][A-Za-z0-9._-]*){0,2}")
"""A Proxmox VE resource pool id that `pveum pool add` accepts: the `pve-poolid` format, 1 to 3
'/'-separated levels of letters, digits, '.', '-' and '_' (proxmox/pve-access-control
`src/PVE/AccessControl.pm`, verify_poolname), each level starting with a letter (pve-manager
`PVE/API2/Pool.pm`, create_pool: "pool name must start with a letter"). A nested pool's parents
must exist first (same function)."""


def _pool_id(value: str) -> str:
    if not _POOL_ID.fullmatch(value):
        raise ValueError(
            "expected a Proxmox pool id such as talos-dev: letters, digits, '.', '-' or '_', "
            "starting with a letter; at most 3 levels separated by '/' (a nested pool such as "
            "talos/dev), each starting with a letter"
        )
    return value


PoolId = Annotated[str, AfterValidator(_pool_id)]

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def bech32_checksum_ok(hrp: str, data: str) -> bool:
    """BIP-173's checksum over the human-readable part and the data characters (which must all
    be in the bech32 alphabet): what age checks before it uses a recipient
    (FiloSottile/age `internal/bech32/bech32.go`)."""
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    values += [_BECH32.index(c) for c in data]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum == 1


def _age_recipient(value: str) -> str:
    # An X25519 recipient is "age1" and 58 bech32 characters: 32 key bytes (52 characters) and a
    # 6-character checksum (FiloSottile/age `x25519.go`, ParseX25519Recipient).
    data = value[4:]
    if not (
        value.startswith("age1")
        and len(data) == 58
        and all(c in _BECH32 for c in data)
        and bech32_checksum_ok("age", data)
    ):
        raise ValueError(
            "expected an age X25519 public key (age1 and 58 characters, as `age-keygen` prints "
            "it on its `Public key:` line); the private key never goes into the stack"
        )
    return value


AgeRecipient = Annotated[str, AfterValidator(_age_recipient)]
