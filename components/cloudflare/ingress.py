"""The tunnel's ingress rules, as cloudflared reads them, built from the stack's hostnames."""

from __future__ import annotations

from typing import Any

from config.models import OriginOptions, PublicHostname

CATCH_ALL = {"service": "http_status:404"}
"""The last rule: anything no hostname matched gets a 404 from cloudflared itself."""


def origin_request(options: OriginOptions) -> dict[str, Any]:
    """Only the options set: cloudflared's defaults stand for everything else."""
    out: dict[str, Any] = {}
    if options.connect_timeout_seconds is not None:
        out["connect_timeout"] = options.connect_timeout_seconds
    if options.no_tls_verify:
        out["no_tls_verify"] = True
    if options.origin_server_name:
        out["origin_server_name"] = options.origin_server_name
    if options.ca_pool:
        out["ca_pool"] = options.ca_pool
    if options.http2_origin:
        out["http2_origin"] = True
    return out


def ingress_rules(hostnames: list[PublicHostname]) -> list[dict[str, Any]]:
    """One rule per public hostname, in config order, then the catch-all.

    The rules were checked the way cloudflared checks them when the config was loaded
    (`config/ingress.py`)."""
    rules: list[dict[str, Any]] = []
    for entry in hostnames:
        rule: dict[str, Any] = {"hostname": entry.hostname, "service": entry.service}
        if entry.path:
            rule["path"] = entry.path
        options = origin_request(entry.origin)
        if options:
            rule["origin_request"] = options
        rules.append(rule)
    return [*rules, dict(CATCH_ALL)]
