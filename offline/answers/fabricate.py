"""What every answer is made of: values derived deterministically from the inputs (a digest,
bytes, a PEM block, a bootstrap token), each secret one recorded in `FABRICATED_SECRETS` so the
tests can check none is printed."""

from __future__ import annotations

import base64
import hashlib
import string
import uuid
from typing import Any

from ..recorder import SECRET_SIG

UUID_NAMESPACE = uuid.UUID("5f2a4e0c-6b7d-4c1e-9a53-1d2b8f0e7a61")
CREATED_AT = "2026-01-01T00:00:00Z"
"""A fixed timestamp where providers report one (the plan stays byte-identical)."""
FABRICATED_SECRETS: set[str] = set()
"""Every secret value answered so far (keys, certificates, tokens, kubeconfigs)."""


def digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def raw_bytes(length: int, *parts: object) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256("/".join(map(str, (*parts, counter))).encode()).digest()
        counter += 1
    return out[:length]


def secret(value: str) -> str:
    FABRICATED_SECRETS.add(value)
    return value


def b64_pem(kind: str, *parts: object) -> str:
    """Standard base64 of a PEM block, as the talos provider hands out every certificate and key
    (terraform-provider-talos `pkg/talos/util.go`, `bytesToBase64`)."""
    body = base64.b64encode(raw_bytes(96, kind, *parts)).decode()
    pem = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
    return secret(base64.b64encode(pem.encode()).decode())


def certificate(name: str, *parts: object) -> dict[str, str]:
    return {
        "cert": b64_pem("CERTIFICATE", name, *parts),
        "key": b64_pem("EC PRIVATE KEY", name, *parts),
    }


def bootstrap_token(*parts: object) -> str:
    """`[a-z0-9]{6}.[a-z0-9]{16}` (siderolabs/talos `pkg/machinery/config/generate/secrets/
    bundle.go`, `genToken(6, 16)`)."""
    alphabet = string.digits + string.ascii_lowercase
    raw = raw_bytes(22, "token", *parts)
    chars = "".join(alphabet[b % len(alphabet)] for b in raw)
    return secret(f"{chars[:6]}.{chars[6:]}")


def plain(value: Any) -> Any:
    """A value as the provider receives it: the engine unwraps secrets before calling it, the
    mock monitor hands them on wrapped (`{<secret sig>: ..., "value": ...}`)."""
    if isinstance(value, dict) and SECRET_SIG in value.values():
        return value.get("value")
    return value
