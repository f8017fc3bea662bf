"""The tunnel's ingress rules, as cloudflared reads them, built from the stack's hostnames."""

from __future__ import annotations

from typing import Any

from config.models import PublicHostname

CATCH_ALL = {"service": "http_status:404"}
"""The last rule: anything no hostname matched gets a 404 from cloudflared itself."""


def ingress_rules(hostnames: list[PublicHostname]) -> list[dict[str, Any]]:
    """One rule per public hostname, in config order, then the catch-all."""
    rules: list[dict[str, Any]] = []
    for entry in hostnames:
        rule: dict[str, Any] = {"hostname": entry.hostname, "service": entry.service}
        rules.append(rule)
    return [*rules, dict(CATCH_ALL)]
